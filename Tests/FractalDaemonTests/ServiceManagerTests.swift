import DeviceManager
import Foundation
import Logging
import Testing

@testable import FractalDaemon

/// The daemon's side of systemd's notify protocol, against a datagram socket playing the service
/// manager (the VM's service suite runs it against Debian's systemd as PID 1).
@Suite(.serialized) struct ServiceManagerTests {
    @Test func storedNamesSayWhichLeaseAndWhatAndParseBack() throws {
        let id = try FractalID("abc-123")
        let names: [StoredDescriptorName] = [
            .device(id, DeviceHandle(.keyboard)), .device(id, DeviceHandle(.gamepad)), .device(id, DeviceHandle(.gamepad, number: 2)),
            .sessionListener(id),
        ]
        for name in names {
            #expect(StoredDescriptorName(rawValue: name.rawValue) == name)
            // systemd refuses ':' (LISTEN_FDNAMES is ':'-separated) and more than 255 characters.
            #expect(!name.rawValue.contains(":") && name.rawValue.utf8.count <= 255)
        }
        #expect(StoredDescriptorName.device(id, DeviceHandle(.mouse)).rawValue == "fractal-device.abc-123.mouse")
        #expect(StoredDescriptorName.device(id, DeviceHandle(.switchPro, number: 3)).rawValue == "fractal-device.abc-123.switch-pro-3")
        for unknown in ["", "stored", "fractal-device.abc", "fractal-device.abc.stylus", "fractal-device.abc.mouse-2", "fractal-device.abc.gamepad-9", "fractal-device.ABC.mouse", "fractal-session.a.b", "fractal-future.abc"] {
            #expect(StoredDescriptorName(rawValue: unknown) == nil, "\(unknown)")
        }
    }

    @Test func passedDescriptorsAreSortedByLeaseAndASecondUnderOneNameIsLeftUnclaimed() throws {
        let id = try FractalID("lease")
        let passed = PassedDescriptors([
            ("fractal-device.lease.keyboard", 3), ("fractal-device.lease.mouse", 4), ("fractal-session.lease", 5),
            ("fractal-session.lease", 6), ("something-else", 7),
        ])
        #expect(passed.devices == [id: [DeviceHandle(.keyboard): 3, DeviceHandle(.mouse): 4]])
        #expect(passed.listeners == [id: 5])
        #expect(passed.all.count == 5)
        #expect(passed.all.last?.parsed == nil)
    }

    @Test func storingSendsTheNameAndTheDescriptorAndNothingWithoutAManager() throws {
        let (manager, path, directory) = try Self.managerSocket()
        defer { close(manager); try? FileManager.default.removeItem(atPath: directory) }

        // libsystemd reads the variable at each call, as in the daemon, where it stays set.
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        let service = ServiceManager()
        #expect(service.isPresent)
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let id = try FractalID("kept")
        #expect(service.store(ends[1], as: .device(id, DeviceHandle(.keyboard))) >= 0)

        let (text, received) = try Self.receive(manager)
        #expect(text == "FDSTORE=1\nFDNAME=fractal-device.kept.keyboard")
        let copy = try #require(received.first)
        defer { close(copy) }
        // The manager holds the same pipe: what it writes comes out of ours.
        #expect(write(copy, "x", 1) == 1)
        var byte: UInt8 = 0
        #expect(read(ends[0], &byte, 1) == 1 && byte == UInt8(ascii: "x"))

        service.removeStored(.device(id, DeviceHandle(.keyboard)))
        #expect(try Self.receive(manager).text == "FDSTOREREMOVE=1\nFDNAME=fractal-device.kept.keyboard")

        // Without NOTIFY_SOCKET, nothing is sent and storing succeeds as a no-op.
        unsetenv("NOTIFY_SOCKET")
        let absent = ServiceManager()
        #expect(!absent.isPresent)
        #expect(absent.store(ends[1], as: .sessionListener(id)) == 0)
    }

    /// A stray second descriptor under an adopted one's name is closed and dropped, and the
    /// adopted one stored again, since FDSTOREREMOVE takes every descriptor of the name.
    @Test func droppingAStrayDuplicateKeepsTheAdoptedDescriptorStored() throws {
        let (manager, path, directory) = try Self.managerSocket()
        defer { close(manager); try? FileManager.default.removeItem(atPath: directory) }
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        var adopted: [Int32] = [0, 0]
        var stray: [Int32] = [0, 0]
        try #require(pipe(&adopted) == 0 && pipe(&stray) == 0)
        defer { close(adopted[0]); close(adopted[1]); close(stray[0]) }
        let passed = PassedDescriptors([("fractal-session.kept", adopted[1]), ("fractal-session.kept", stray[1])])

        Daemon.dropUnclaimed(passed, claimed: [adopted[1]], service: ServiceManager(), logger: Logger(label: "test"))
        #expect(try Self.receive(manager).text == "FDSTOREREMOVE=1\nFDNAME=fractal-session.kept")
        let (text, fds) = try Self.receive(manager)
        #expect(text == "FDSTORE=1\nFDNAME=fractal-session.kept")
        for fd in fds { close(fd) }
        #expect(fds.count == 1)
        // The stray's write end is closed: its reader sees the end.
        var byte: UInt8 = 0
        #expect(read(stray[0], &byte, 1) == 0)
        #expect(fcntl(adopted[1], F_GETFD) >= 0)
    }

    /// A bound datagram socket playing systemd's notify socket: (socket, its path, its directory).
    static func managerSocket() throws -> (Int32, String, String) {
        let directory = FileManager.default.temporaryDirectory.appending(path: "fractal-notify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/notify"
        let manager = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard manager >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(manager, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
        return (manager, path, directory)
    }

    /// One datagram: its text and the descriptors it carried.
    static func receive(_ socket: Int32) throws -> (text: String, fds: [Int32]) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var control = [UInt8](repeating: 0, count: 256)
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 5000) == 1 else { throw TestFailure("no datagram within 5 s") }
        return try buffer.withUnsafeMutableBytes { data in
            try control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                var message = msghdr()
                message.msg_iov = withUnsafeMutablePointer(to: &vector) { $0 }
                message.msg_iovlen = 1
                message.msg_control = controlBytes.baseAddress
                message.msg_controllen = controlBytes.count
                let count = withUnsafeMutablePointer(to: &vector) { vectorPointer -> Int in
                    message.msg_iov = vectorPointer
                    return recvmsg(socket, &message, Int32(MSG_CMSG_CLOEXEC))
                }
                guard count >= 0 else { throw TestFailure("recvmsg: \(String(cString: strerror(errno)))") }
                var fds: [Int32] = []
                // Walks the control messages by hand: CMSG_* are macros Swift does not import.
                var offset = 0
                let header = MemoryLayout<cmsghdr>.size
                while offset + header <= message.msg_controllen {
                    let cmsg = controlBytes.load(fromByteOffset: offset, as: cmsghdr.self)
                    if cmsg.cmsg_level == SOL_SOCKET && cmsg.cmsg_type == Int32(SCM_RIGHTS) {
                        let count = (Int(cmsg.cmsg_len) - header) / MemoryLayout<Int32>.size
                        for index in 0..<count {
                            fds.append(controlBytes.load(fromByteOffset: offset + header + index * 4, as: Int32.self))
                        }
                    }
                    offset += (Int(cmsg.cmsg_len) + 7) & ~7
                    if cmsg.cmsg_len == 0 { break }
                }
                return (String(decoding: data[..<count], as: UTF8.self), fds)
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
