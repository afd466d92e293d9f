#if canImport(Glibc)
import Glibc
#endif
import FractalSystem
import SystemPackage
import Testing

/// A signal that interrupts a call makes it run again; any other failure comes back at once.
@Suite struct SystemCallTests {
    /// A call that fails with `failures` (errno each) before it succeeds with 7.
    final class Scripted {
        var failures: [Int32]
        var calls = 0
        init(_ failures: [Int32]) { self.failures = failures }
        func call() -> Int32 {
            calls += 1
            guard !failures.isEmpty else { return 7 }
            errno = failures.removeFirst()
            return -1
        }
    }

    @Test func interruptedCallsRunAgain() {
        let scripted = Scripted([EINTR, EINTR])
        #expect(retryingInterrupts { scripted.call() } == 7)
        #expect(scripted.calls == 3)
    }

    @Test func otherFailuresReturnAtOnceWithTheirErrno() {
        let scripted = Scripted([EINTR, EBADF, EINTR])
        #expect(retryingInterrupts { scripted.call() } == -1)
        #expect(errno == EBADF)
        #expect(scripted.calls == 2)
    }

    @Test func checkedCallThrowsTheErrno() throws {
        let scripted = Scripted([EINTR, EACCES])
        #expect(throws: Errno.permissionDenied) { try checkedCall { scripted.call() } }
        let interrupted = Scripted([EINTR])
        #expect(try checkedCall { interrupted.call() } == 7)
    }

    @Test func runBlockingReturnsAndThrowsWhatTheBodyDoes() async throws {
        #expect(try await runBlocking { 6 * 7 } == 42)
        await #expect(throws: Errno.ioError) { try await runBlocking { throw Errno.ioError } }
    }
}
