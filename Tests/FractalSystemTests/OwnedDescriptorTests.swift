#if canImport(Glibc)
import Glibc
#endif
import FractalSystem
import SystemPackage
import Testing

/// An owned descriptor closes when it goes away, and not when it was handed on. Told by a pipe's
/// read end (end of file only once every write end is closed), never by a descriptor number,
/// which another test may be given again at once.
@Suite struct OwnedDescriptorTests {
    /// A pipe whose read end does not block: `read` answers 0 at end of file, -1/EAGAIN while a writer lives.
    func pipeEnds() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        try #require(fcntl(ends[0], F_SETFL, O_NONBLOCK) == 0)
        return (ends[0], ends[1])
    }

    func readResult(_ fd: Int32) -> (Int, Int32) {
        var byte: UInt8 = 0
        let count = read(fd, &byte, 1)
        return (count, count < 0 ? errno : 0)
    }

    @Test func closesWhenItGoesAway() throws {
        let (reader, writer) = try pipeEnds()
        defer { close(reader) }
        do {
            let owned = OwnedDescriptor(adopting: writer)
            #expect(owned.procPath == "/proc/self/fd/\(writer)")
            #expect(readResult(reader) == (-1, EAGAIN))
        }
        #expect(readResult(reader) == (0, 0))
    }

    @Test func takingHandsItOnUnclosed() throws {
        let (reader, writer) = try pipeEnds()
        defer { close(reader) }
        let taken = OwnedDescriptor(adopting: writer).take()
        #expect(taken == writer)
        #expect(readResult(reader) == (-1, EAGAIN))
        #expect(close(taken) == 0)
        #expect(readResult(reader) == (0, 0))
    }
}
