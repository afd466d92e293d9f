#if canImport(Glibc)
import Glibc
#endif
import FractalSystem
import Foundation
import Testing

/// The probe says why nothing answers on a unix socket, in the C library's words.
@Suite struct UnixSocketProbeTests {
    @Test func aMissingSocketIsNamedSo() {
        #expect(UnixSocketProbe.failure("/nonexistent/fractal-test/agent.sock") == "No such file or directory")
    }

    @Test func aTooLongPathIsRefusedBeforeAnyCall() {
        let path = "/" + String(repeating: "s", count: 200)
        #expect(UnixSocketProbe.failure(path) == "the socket path is 201 bytes; at most 107 fit")
    }

    @Test func aListeningSocketAnswers() throws {
        let path = FileManager.default.temporaryDirectory.path + "/fractal-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(listener >= 0)
        defer { unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(path.utf8))
            buffer[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 4) == 0 else {
            close(listener)
            throw ProbeTestFailure(description: "bind or listen on \(path) failed: errno \(errno)")
        }
        #expect(UnixSocketProbe.failure(path) == nil)
        close(listener)
        #expect(UnixSocketProbe.failure(path) == "Connection refused")
    }
}

struct ProbeTestFailure: Error, CustomStringConvertible {
    var description: String
}
