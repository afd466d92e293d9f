import CFractalLinux
import CUInput
import DeviceManager
import FractalAPI
import FractalClient
import FractalSessionClient
import FractalSessionProtocol
import Foundation
import Testing

/// A hostile session against a real daemon and kernel: what it holds must not become a host
/// keyboard, its keys must not reach the host's text console, and asking without reading must
/// not exhaust the daemon (docs/SECURITY.md).
@Suite(.serialized) struct IsolationVMTests {
    static let repository = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The VT in front (1-based), from VT_GETSTATE.
    static func foregroundVT() throws -> Int {
        let console = open("/dev/tty0", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard console >= 0 else { throw VMTestFailure(description: "open /dev/tty0: errno \(errno)") }
        defer { close(console) }
        var active: UInt16 = 0, inUse: UInt16 = 0
        guard cfl_vt_state(console, &active, &inUse) == 0 else { throw VMTestFailure(description: "VT_GETSTATE failed") }
        return Int(active)
    }

    static func keyboardMode(vt: Int) -> Int32 {
        let fd = open("/dev/tty\(vt)", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return -errno }
        defer { close(fd) }
        return cfl_vt_keyboard_mode(fd)
    }

    static func setKeyboardMode(vt: Int, _ mode: Int32) {
        let fd = open("/dev/tty\(vt)", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = cfl_vt_set_keyboard_mode(fd, mode)
    }

    /// linux/kd.h's K_UNICODE: what a getty's VT has.
    static let unicode: Int32 = 0x03

    static func inputDevices() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/input")) ?? []).filter { $0.hasPrefix("input") })
    }

    static func kernelLog() throws -> String { try runTool(["dmesg"]).output }

    @Test func nothingADefaultSessionHoldsBecomesAHostKeyboard() async throws {
        try requireVM()
        // SysRq fully enabled, as on a host whose operator allows it: nothing may reach it anyway.
        try "1\n".write(toFile: "/proc/sys/kernel/sysrq", atomically: false, encoding: .utf8)
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let victim = try await api.createLease(CreateLeaseRequest(devices: ["keyboard"], policy: "default"))
        let lease = try await api.createLease(CreateLeaseRequest(devices: ["keyboard", "mouse", "gamepad"], policy: "default"))
        let socket = try #require(lease.session?.socketPath)
        let devicesBefore = Self.inputDevices()
        let sysrqBefore = try Self.kernelLog().components(separatedBy: "sysrq").count
        let vtBefore = try Self.foregroundVT()

        let (status, output) = try runTool([
            "python3", Self.repository.appending(path: "Tests/VMTests/Session/hostile_session.py").path, socket,
            Self.repository.appending(path: "clients/python").path, victim.id.rawValue,
        ])
        #expect(status == 0, "\(output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        #expect((report["attached"] as? [Any])?.isEmpty == true, "\(output)")
        #expect((report["handed"] as? [Any])?.isEmpty == true, "\(output)")

        // No device appeared or vanished, the lease's devices are what it leased, and no SysRq ran.
        #expect(Self.inputDevices() == devicesBefore)
        let after = try await api.lease(lease.id.rawValue)
        #expect(after.devices.map(\.nodes) == lease.devices.map(\.nodes))
        for device in after.devices {
            let node = try #require(device.nodes.first { $0.kind == "event" })
            let name = (node.path as NSString).lastPathComponent
            let sysfsName = try String(contentsOfFile: "/sys/class/input/\(name)/device/name", encoding: .utf8)
            #expect(sysfsName.hasPrefix("Fractal Virtual"), "\(name): \(sysfsName)")
        }
        let log = try Self.kernelLog()
        #expect(log.components(separatedBy: "sysrq").count == sysrqBefore, "\(log.suffix(2000))")
        #expect(try Self.foregroundVT() == vtBefore)
        #expect(sysfsDevices(of: [victim.id.rawValue]).count == 1)
        daemon.stop()
    }

    @Test func aSessionsKeysNeverReachTheHostConsoleAndItsModeComesBack() async throws {
        try requireVM()
        let vt = try Self.foregroundVT()
        Self.setKeyboardMode(vt: vt, Self.unicode)
        // A getty's view of the VT in front: raw, so every byte the keyboard makes is readable.
        let tty = open("/dev/tty\(vt)", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        try #require(tty >= 0, "open /dev/tty\(vt): errno \(errno)")
        defer { close(tty) }
        var saved = termios()
        tcgetattr(tty, &saved)
        var raw = saved
        cfmakeraw(&raw)
        tcsetattr(tty, TCSANOW, &raw)
        defer { tcsetattr(tty, TCSANOW, &saved) }
        tcflush(tty, TCIFLUSH)
        func pending() -> String {
            var buffer = [UInt8](repeating: 0, count: 256)
            let got = read(tty, &buffer, buffer.count)
            return got > 0 ? String(decoding: buffer[..<got], as: UTF8.self) : ""
        }

        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let lease = try await api.createLease(CreateLeaseRequest(devices: ["keyboard"], policy: "default"))
        #expect(Self.keyboardMode(vt: vt) == CFL_K_OFF)
        let client = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        _ = try client.hello()
        func key(_ code: Int32, _ value: Int32) -> SessionEvent { SessionEvent(type: UInt16(EV_KEY), code: UInt16(code), value: value) }
        try client.send([key(KEY_A, 1), .syn(), key(KEY_A, 0), .syn()], toDevice: 0)
        try client.send([key(KEY_LEFTALT, 1), key(KEY_F2, 1), .syn(), key(KEY_F2, 0), key(KEY_LEFTALT, 0), .syn()], toDevice: 0)
        try client.ping()
        // A process in the container can write to the keyboard's event node too.
        let node = try EvdevNode(try #require(lease.devices[0].nodes.first { $0.kind == "event" }).path, flags: O_RDWR | O_NONBLOCK)
        try node.write([.key(UInt16(KEY_B), pressed: true), .syn(), .key(UInt16(KEY_B), pressed: false), .syn()])
        try node.write([.key(UInt16(KEY_LEFTALT), pressed: true), .key(UInt16(KEY_F3), pressed: true), .syn(),
                        .key(UInt16(KEY_F3), pressed: false), .key(UInt16(KEY_LEFTALT), pressed: false), .syn()])
        usleep(300_000)
        #expect(pending() == "")
        #expect(try Self.foregroundVT() == vt)

        // Another VT brought to the front is switched off too, within the guard's second.
        let other = vt == 2 ? 3 : 2
        Self.setKeyboardMode(vt: other, Self.unicode)
        #expect(try runTool(["busybox", "chvt", "\(other)"]).status == 0)
        let deadline = ContinuousClock.now + .seconds(10)
        while Self.keyboardMode(vt: other) != CFL_K_OFF && ContinuousClock.now < deadline { usleep(50_000) }
        #expect(Self.keyboardMode(vt: other) == CFL_K_OFF)
        #expect(try runTool(["busybox", "chvt", "\(vt)"]).status == 0)

        // The last keyboard lease gone, the console types again.
        _ = try await api.releaseLease(lease.id.rawValue, keepDirectories: false)
        #expect(Self.keyboardMode(vt: vt) == Self.unicode)
        #expect(Self.keyboardMode(vt: other) == Self.unicode)
        daemon.stop()
    }

    @Test func clientsThatAskForFdsWithoutReadingLeaveTheDaemonBoundedAndIdle() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let lease = try await api.createLease(CreateLeaseRequest(devices: ["keyboard", "mouse", "gamepad"], policy: "trusted"))
        let socket = try #require(lease.session?.socketPath)
        let pid = try #require(daemon.process?.processIdentifier)
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
        func cpuTicks() throws -> Int {
            let fields = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8).split(separator: ")").last!.split(separator: " ")
            return Int(fields[11])! + Int(fields[12])!
        }
        let before = descriptors()
        let hello = SessionMessage.hello(.current).encoded()
        let flood = Array([[UInt8]](repeating: SessionMessage.getFDs.encoded(), count: 4096).joined())
        var connections: [Int32] = []
        for _ in 0..<8 {
            let fd = cfl_unix_connect(socket)
            try #require(fd >= 0)
            connections.append(fd)
            _ = hello.withUnsafeBytes { cfl_send(fd, $0.baseAddress, $0.count, 0) }
            // Non-blocking: once the daemon stops reading, the rest stays here.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = flood.withUnsafeBytes { cfl_send(fd, $0.baseAddress, $0.count, 0) }
        }
        defer { for fd in connections { close(fd) } }
        // Another lease is still made while the flood is being read.
        let other = try await api.createLease(CreateLeaseRequest(devices: ["keyboard"]))
        #expect(other.state == .active)
        // Once it has read the flood the daemon sleeps: under half a CPU over two seconds (a loop
        // spinning on a readable listener or a full socket takes a whole one).
        let second = Int(sysconf(Int32(_SC_CLK_TCK)))
        var used = Int.max
        let deadline = ContinuousClock.now + .seconds(120)
        while used >= second && ContinuousClock.now < deadline {
            let ticks = try cpuTicks()
            usleep(2_000_000)
            used = try cpuTicks() - ticks
        }
        #expect(used < second, "\(used) ticks in 2 s")
        // Every flooding connection is still served (none dropped for want of descriptors), and
        // each holds at most one reply's descriptors: none queued in the daemon's table.
        let metrics = try await api.metrics()
        #expect(metrics.contains("fractal_session_connections 8"), "\(metrics.split(separator: "\n").filter { $0.hasPrefix("fractal_session_connections") })")
        #expect(descriptors() - before <= 16, "\(descriptors() - before) descriptors more")
        // And a newcomer on the other lease is greeted (this lease has its eight).
        let newcomer = try SessionClient(connectingTo: try #require(other.session?.socketPath))
        _ = try newcomer.hello()
        daemon.stop()
    }
}
