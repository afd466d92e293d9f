import CFractalLinux
import CUInput
import DeviceManager
import FractalAPI
import FractalClient
import FractalSessionClient
import FractalSessionProtocol
import Foundation
import Testing

/// The session socket end to end: a real daemon, real uinput devices, readers on their event nodes.
@Suite(.serialized) struct SessionSocketVMTests {
    /// A daemon with one lease of `devices` under `policy`, and its socket.
    struct Session {
        let daemon: DaemonProcess
        let api: FractalClient
        let lease: LeaseResponse

        init(_ daemon: DaemonProcess, _ api: FractalClient, devices: [String] = ["keyboard", "mouse", "gamepad"], policy: String = "default") async throws {
            self.daemon = daemon
            self.api = api
            lease = try await api.createLease(CreateLeaseRequest(devices: devices, policy: policy))
        }

        var socketPath: String { lease.session?.socketPath ?? "(no session)" }

        func node(_ role: String) throws -> EvdevNode {
            let device = try #require(lease.devices.first { $0.role.rawValue == role })
            return try EvdevNode(try #require(device.nodes.first { $0.kind == "event" }).path)
        }

        func client() throws -> SessionClient {
            let client = try SessionClient(connectingTo: socketPath)
            _ = try client.hello()
            return client
        }
    }

    static func key(_ code: Int32, _ value: Int32) -> SessionEvent { SessionEvent(type: UInt16(EV_KEY), code: UInt16(code), value: value) }

    /// Reads events (skipping the kernel's autorepeats) until one matches `last`.
    static func read(_ node: EvdevNode, until last: (InputEvent) -> Bool) throws -> [InputEvent] {
        var events: [InputEvent] = []
        while true {
            let event = try node.read(count: 1)[0]
            if event.type == UInt16(EV_KEY) && event.value == 2 { continue }
            events.append(event)
            if last(event) { return events }
        }
    }

    @Test func aLeasesSocketTypesKeyAForAReaderOfItsEventNode() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let session = try await Session(daemon, api)
        let reader = try session.node("keyboard")
        let client = try SessionClient(connectingTo: session.socketPath)
        let manifest = try client.hello()
        #expect(manifest.lease == session.lease.id.rawValue)
        #expect(manifest.devices.map(\.role) == ["keyboard", "mouse", "gamepad"])
        #expect(manifest.devices[0].nodes.first?.path == session.lease.devices[0].nodes.first?.path)

        try client.send([Self.key(KEY_A, 1), .syn(), Self.key(KEY_A, 0), .syn()], toDevice: 0)
        try client.ping()
        #expect(try reader.read(count: 4) == [.key(UInt16(KEY_A), pressed: true), .syn(), .key(UInt16(KEY_A), pressed: false), .syn()])
        var info = stat()
        #expect(stat(session.socketPath, &info) == 0 && info.st_mode & 0o777 == 0o666)
        let metrics = try await session.api.metrics()
        #expect(metrics.contains("fractal_session_events_written_total 4"), "\(metrics)")
        session.daemon.stop()
    }

    @Test func ctrlAltF2AndSysrqNeverReachTheDeviceUnderTheDefaultPolicy() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let session = try await Session(daemon, api)
        let reader = try session.node("keyboard")
        let client = try session.client()
        try client.send([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), .syn(), Self.key(KEY_F2, 1), .syn()], toDevice: 0)
        try client.send([Self.key(KEY_F2, 0), .syn(), Self.key(KEY_LEFTALT, 0), Self.key(KEY_LEFTCTRL, 0), .syn()], toDevice: 0)
        try client.send([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_DELETE, 1), Self.key(KEY_DELETE, 0), Self.key(KEY_LEFTALT, 0), Self.key(KEY_LEFTCTRL, 0), .syn()], toDevice: 0)
        try client.send([Self.key(KEY_SYSRQ, 1), .syn(), Self.key(KEY_SYSRQ, 0), .syn(), Self.key(KEY_POWER, 1), .syn()], toDevice: 0)
        // A sentinel: once it is read, everything sent before was delivered or dropped.
        try client.send([Self.key(KEY_Z, 1), .syn(), Self.key(KEY_Z, 0), .syn()], toDevice: 0)
        try client.ping()
        let events = try Self.read(reader) { $0 == .key(UInt16(KEY_Z), pressed: false) }
        let codes = Set(events.filter { $0.type == UInt16(EV_KEY) }.map(\.code))
        #expect(codes == [UInt16(KEY_LEFTCTRL), UInt16(KEY_LEFTALT), UInt16(KEY_Z)], "\(events)")
        var errors: [SessionErrorCode] = []
        while case .error(let code, _)? = try client.nextNotification(timeout: .milliseconds(500)) { errors.append(code) }
        #expect(errors.contains(.filtered))
        session.daemon.stop()
    }

    @Test func handOffUnderTrustedGivesFdsThatTypeAndDefaultWithholdsEveryFd() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let trusted = try await Session(daemon, api, devices: ["keyboard", "mouse"], policy: "trusted")
        let keyboardReader = try trusted.node("keyboard")
        let handed = try trusted.client().takeDevices()
        #expect(handed.manifest.attached.map(\.role) == ["keyboard", "mouse"])
        let keyboard = try #require(handed.descriptor(forDevice: 0))
        let batch = [cuinput_event(type: UInt16(EV_KEY), code: UInt16(KEY_Q), value: 1), cuinput_event(type: 0, code: 0, value: 0),
                     cuinput_event(type: UInt16(EV_KEY), code: UInt16(KEY_Q), value: 0), cuinput_event(type: 0, code: 0, value: 0)]
        #expect(cuinput_write_events(keyboard, batch, batch.count) == 0)
        #expect(try keyboardReader.read(count: 4) == [.key(UInt16(KEY_Q), pressed: true), .syn(), .key(UInt16(KEY_Q), pressed: false), .syn()])
        handed.close()

        // Under default a uinput fd is never handed off: whoever holds one can recreate the device.
        let standard = try await Session(daemon, api, devices: ["keyboard", "mouse"], policy: "default")
        let withheld = try standard.client().takeDevices()
        #expect(withheld.manifest.attached.isEmpty)
        #expect(withheld.manifest.withheld.map(\.role) == ["keyboard", "mouse"])
        #expect(withheld.descriptor(forDevice: 0) == nil && withheld.descriptor(forDevice: 1) == nil)
        withheld.close()
        daemon.stop()
    }

    @Test func anotherLeasesDeviceIndexIsRefused() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let small = try await Session(daemon, api, devices: ["mouse"], policy: "trusted")
        let large = try await Session(daemon, api, devices: ["mouse", "keyboard", "tablet", "gamepad"], policy: "trusted")
        let largeGamepad = try large.node("gamepad")
        let client = try small.client()
        // Index 3 is the large lease's gamepad; on the small lease's socket it is nothing.
        try client.send([Self.key(BTN_SOUTH, 1), .syn()], toDevice: 3)
        try client.ping()
        guard case .error(.noSuchDevice, _)? = try client.nextNotification(timeout: .seconds(5)) else {
            Issue.record("no no-such-device error")
            return
        }
        #expect(throws: (any Error).self) { try largeGamepad.read(count: 1, timeout: .milliseconds(300)) }
        daemon.stop()
    }

    @Test func aClientThatDisconnectsHoldingShiftLeavesItReleased() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let session = try await Session(daemon, api)
        let reader = try session.node("keyboard")
        let client = try session.client()
        try client.send([Self.key(KEY_LEFTSHIFT, 1), .syn()], toDevice: 0)
        try client.ping()
        #expect(try reader.read(count: 2) == [.key(UInt16(KEY_LEFTSHIFT), pressed: true), .syn()])
        client.close()
        let events = try Self.read(reader) { $0 == .key(UInt16(KEY_LEFTSHIFT), pressed: false) }
        #expect(events.last == .key(UInt16(KEY_LEFTSHIFT), pressed: false))
        session.daemon.stop()
    }

    @Test func rumbleAGameAsksForReachesTheClient() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let session = try await Session(daemon, api, devices: ["gamepad"], policy: "gamepad-only")
        let client = try session.client()
        let game = try EvdevNode(try #require(session.lease.devices[0].nodes.first { $0.kind == "event" }).path, flags: O_RDWR | O_NONBLOCK)
        // The upload blocks until the daemon's feedback pump serves it.
        let effect = cuinput_evdev_upload_rumble(game.fd, -1, 40000, 20000, 500)
        #expect(effect >= 0)
        try game.write([InputEvent(type: UInt16(EV_FF), code: UInt16(effect), value: 1)])
        let notification = try client.nextNotification(timeout: .seconds(10))
        #expect(notification == .rumble(device: 0, strong: 40000, weak: 20000, durationMs: 500))
        session.daemon.stop()
    }

    @Test func aHandedOffFdMadeBlockingStallsNoOtherLeasesFeedback() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        // Only trusted sessions get fds; one that misuses its own must not stall another lease.
        let hostile = try await Session(daemon, api, devices: ["gamepad"], policy: "trusted")
        let other = try await Session(daemon, api, devices: ["gamepad"], policy: "gamepad-only")
        let handed = try hostile.client().takeDevices()
        let fd = try #require(handed.descriptor(forDevice: 0))
        // The descriptor is the daemon's own open file: clearing O_NONBLOCK reaches the daemon too.
        #expect(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0)
        // Feedback on that device makes the daemon read it...
        let hostileGame = try EvdevNode(try #require(hostile.lease.devices[0].nodes.first { $0.kind == "event" }).path, flags: O_RDWR | O_NONBLOCK)
        #expect(cuinput_evdev_upload_rumble(hostileGame.fd, -1, 1, 1, 10) >= 0)
        // ...and the other lease's game still has its upload served at once, not after uinput's 30 s.
        let game = try EvdevNode(try #require(other.lease.devices[0].nodes.first { $0.kind == "event" }).path, flags: O_RDWR | O_NONBLOCK)
        let start = ContinuousClock.now
        #expect(cuinput_evdev_upload_rumble(game.fd, -1, 30000, 30000, 100) >= 0)
        #expect(ContinuousClock.now - start < .seconds(5))
        handed.close()
        daemon.stop()
    }

    @Test func aMillionFuzzedFramesLeaveTheDaemonServingAndItsDescriptorsWhereTheyWere() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let target = try await Session(daemon, api, devices: ["keyboard", "mouse", "gamepad"], policy: "default")
        let bystander = try await Session(daemon, api, devices: ["keyboard"], policy: "default")
        let pid = try #require(daemon.process?.processIdentifier)
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
        // The daemon's other descriptors come and go (its Docker event stream, udev monitors), so
        // its session sockets are counted on their own too: the listener and any connection.
        func sessionSockets() -> Int {
            let table = (try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8)) ?? ""
            let inodes = Set(table.split(separator: "\n").filter { $0.hasSuffix(target.socketPath) }.compactMap { $0.split(separator: " ").dropLast().last.map(String.init) })
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return fds.filter { fd in
                guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), link.hasPrefix("socket:[") else { return false }
                return inodes.contains(String(link.dropFirst(8).dropLast()))
            }.count
        }
        let before = descriptors()
        #expect(sessionSockets() == 1)
        let start = ContinuousClock.now
        var fuzzer = SessionFuzzer(seed: 0xF00D_5EED)
        var connections = 0, frames = 0
        while frames < 1_000_000 {
            let connection = try RawSessionConnection(target.socketPath)
            connections += 1
            frames += try connection.run(&fuzzer, frames: min(1_000_000 - frames, 8000))
        }
        let elapsed = ContinuousClock.now - start
        print("session fuzz: \(frames) frames over \(connections) connections in \(elapsed)")

        // The daemon is alive, the other lease still serves, and nothing leaked.
        #expect(daemon.process?.isRunning == true)
        let reader = try bystander.node("keyboard")
        let client = try bystander.client()
        try client.send([Self.key(KEY_A, 1), .syn(), Self.key(KEY_A, 0), .syn()], toDevice: 0)
        try client.ping()
        #expect(try reader.read(count: 4) == [.key(UInt16(KEY_A), pressed: true), .syn(), .key(UInt16(KEY_A), pressed: false), .syn()])
        client.close()
        var open = -1
        for _ in 0..<100 {
            let metrics = try await api.metrics()
            if metrics.contains("fractal_session_connections 0") { open = 0; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(open == 0)
        #expect(sessionSockets() == 1)
        #expect(descriptors() <= before, "daemon fds before \(before), after \(descriptors())")
        let metrics = try await api.metrics()
        print(metrics.split(separator: "\n").filter { $0.hasPrefix("fractal_session") }.sorted().joined(separator: "\n"))
        let handled = metrics.split(separator: "\n").first { $0.hasPrefix("fractal_session_frames_total ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        // Every frame the fuzz sent reached the daemon, but the tails of frames cut short.
        #expect(handled >= 1_000_000 - connections, "the daemon handled \(handled) frames")
        daemon.stop()
    }
}

/// Makes fuzz traffic: mostly plausible frames, some malformed; a malformed (fatal) frame ends a connection.
struct SessionFuzzer {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func event() -> SessionEvent {
        switch below(4) {
        case 0: return .syn()
        case 1: return SessionEvent(type: 1, code: UInt16(1 + below(120)), value: Int32(below(3)))
        case 2: return SessionEvent(type: UInt16(below(6)), code: UInt16(below(0x300)), value: Int32(below(5)) - 1)
        default: return SessionEvent(type: UInt16(truncatingIfNeeded: next()), code: UInt16(truncatingIfNeeded: next()), value: Int32(truncatingIfNeeded: next()))
        }
    }

    /// A frame the daemon handles and keeps the connection for.
    mutating func survivable() -> [UInt8] {
        switch below(100) {
        case 0..<80: return SessionMessage.events(device: UInt8(below(4) == 0 ? below(6) : below(3)), (0..<below(8)).map { _ in event() }).encoded()
        case 80..<95: return SessionMessage.ping(token: UInt32(truncatingIfNeeded: next())).encoded()
        default: return SessionMessage.getFDs.encoded()
        }
    }

    /// A whole frame that makes the daemon send ERROR and close the connection.
    mutating func fatal() -> [UInt8] {
        switch below(4) {
        case 0: return [0x02, 0x00, UInt8(1 + below(255)), 0x00, 0, 0, 0, 0] // nonzero flags
        case 1: return SessionFrame(type: SessionMessageType(rawValue: UInt16(0x100 + below(100)))).encoded() // unknown type
        case 2: return [0x02, 0, 0, 0, 0xFF, 0xFF, 0x7F, 0] // oversize
        default: return SessionFrame(type: .events, payload: [0, 0, 9, 0, 1]).encoded() // count and length disagree
        }
    }

    /// The start of a frame, for a client that dies mid-batch.
    mutating func partial() -> [UInt8] {
        Array(SessionMessage.events(device: 0, [event(), event()]).encoded().prefix(1 + below(20)))
    }
}

/// One fuzzing connection: HELLO, a run of survivable frames, often a fatal one, and away.
final class RawSessionConnection {
    let fd: Int32

    init(_ path: String) throws {
        fd = cfl_unix_connect(path)
        guard fd >= 0 else { throw VMTestFailure(description: "connect \(path): errno \(-fd)") }
    }

    deinit { close(fd) }

    /// Sends HELLO and up to `frames` frames, waits (PING) until the daemon has handled them,
    /// then leaves: plainly, with a fatal frame (and waits for the daemon to close), or in the
    /// middle of a frame. Returns how many frames were sent.
    func run(_ fuzzer: inout SessionFuzzer, frames: Int) throws -> Int {
        var sent = 1
        var bytes = SessionMessage.hello(.current).encoded()
        while sent < frames {
            let count = min(frames - sent, 200)
            for _ in 0..<count { bytes += fuzzer.survivable() }
            sent += count
            guard send(bytes) else { throw VMTestFailure(description: "the daemon closed a connection that sent only valid frames") }
            bytes = []
            drain()
        }
        let token = UInt32(truncatingIfNeeded: fuzzer.next())
        guard send(SessionMessage.ping(token: token).encoded()) else { throw VMTestFailure(description: "the daemon closed before the barrier") }
        sent += 1
        guard try waitFor(.pong(token: token)) else { throw VMTestFailure(description: "the daemon closed instead of answering PING") }
        switch fuzzer.below(3) {
        case 0:
            _ = send(fuzzer.fatal())
            sent += 1
            guard try !waitFor(nil) else { throw VMTestFailure(description: "the daemon kept a connection after a fatal frame") }
        case 1:
            _ = send(fuzzer.partial())
            sent += 1
        default:
            break
        }
        return sent
    }

    /// Reads until `wanted` arrives (true) or the daemon closes (false).
    private func waitFor(_ wanted: SessionMessage?) throws -> Bool {
        var decoder = SessionFrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 1000) > 0 else { continue }
            let got = recv(fd, &buffer, buffer.count, 0)
            if got <= 0 { return false }
            decoder.feed(Array(buffer[..<got]))
            while let frame = try decoder.next() {
                if let wanted, (try? SessionMessage(frame)) == wanted { return true }
            }
        }
        throw VMTestFailure(description: "no answer from the daemon within 300 s")
    }

    /// Sends everything, reading replies while the socket is full so neither side stalls.
    private func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { cfl_send(fd, $0.baseAddress! + offset, $0.count - offset, 1) }
            if result >= 0 {
                offset += result
            } else if -result == EAGAIN {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN | POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 1000)
                drain()
            } else {
                return false
            }
        }
        return true
    }

    /// Reads and discards what the daemon sent (passed fds are closed by the kernel: no room for them).
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
    }
}
