import DeviceManager
import FractalAPI
import FractalSessionClient
import FractalSessionProtocol
import Foundation
import Testing

/// A task's pen and trackpad as a compositor inside its container takes them: libinput (the host's
/// own build, through the host's /usr bound read-only) on its udev backend and default seat, which
/// sees only the lease's nodes and the lease's udev view, driven through the session socket as a
/// streaming server would. Real dockerd, udevd and kernel in the VM.
@Suite(.serialized) struct LibinputInContainerVMTests {
    @Test func libinputInsideListsThePenAndTrackpadAndSeesAScrollAndAStrokeFromTheSessionSocket() async throws {
        let (daemon, client) = try await SessionViewVMTests.startWithContainers()
        defer { Task { await client.shutdown() } }
        // Another session's pen and trackpad exist on the host at the same time, with the same names.
        let other = try await client.createLease(CreateLeaseRequest(devices: ["trackpad", "pen"]))
        // list-devices, then debug-events left running (line-buffered into the file, or it would
        // hold its lines until exit): both on libinput's udev backend with its default seat0.
        let command = """
            libinput list-devices > /data/list.txt 2>&1; \
            stdbuf -oL libinput debug-events > /data/events.txt 2>&1 & sleep 120
            """
        let task = try await client.runTask(definition: SessionViewVMTests.definition(
            family: "libinput", root: daemon.root, command: command,
            labels: ["fractal.devices": "trackpad,pen", "fractal.input-policy": "default"]))
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        let trackpad = try SessionViewVMTests.eventNode(lease, .trackpad)
        let pen = try SessionViewVMTests.eventNode(lease, .pen)
        let directory = daemon.root + "/" + task.id.rawValue
        func events() -> String { SessionViewVMTests.read(directory + "/events.txt") }
        // Written only once libinput has added every device it will: nothing sent later is missed.
        try await TaskVMTests.waitFor("libinput debug-events in the container to add the devices", daemon: daemon) {
            Self.lines(events(), "DEVICE_ADDED").count >= 2
        }

        // list-devices: exactly the lease's two event nodes, nothing of the other lease or the host.
        let listing = SessionViewVMTests.read(directory + "/list.txt")
        let blocks = Self.blocks(listing)
        #expect(blocks.keys.sorted() == [trackpad, pen].sorted(), "\(listing)")
        for role in [DeviceRole.trackpad, .pen] {
            #expect(blocks[try SessionViewVMTests.eventNode(other, role)] == nil, "\(listing)")
        }
        let penBlock = blocks[pen] ?? ""
        #expect(penBlock.contains("Device:           Fractal Virtual Pen"), "\(listing)")
        #expect(Self.capabilities(penBlock) == ["tablet"], "\(listing)")
        let trackpadBlock = blocks[trackpad] ?? ""
        #expect(trackpadBlock.contains("Device:           Fractal Virtual Trackpad"), "\(listing)")
        #expect(Self.capabilities(trackpadBlock) == ["pointer", "gesture"], "\(listing)")
        // What only a touchpad has: tapping and a scroll method of two fingers (the default).
        #expect(trackpadBlock.contains("Tap-to-click:"), "\(listing)")
        #expect(trackpadBlock.split(separator: "\n").contains { $0.hasPrefix("Scroll methods:") && $0.contains("*two-finger") }, "\(listing)")

        // debug-events added the same two, on seat0 (the view drops the host's seat-fractal).
        let added = Self.lines(events(), "DEVICE_ADDED")
        #expect(added.count == 2 && added.allSatisfy { $0.contains(" seat0 ") }, "\(events())")
        #expect(added.contains { $0.contains("Fractal Virtual Pen") } && added.contains { $0.contains("Fractal Virtual Trackpad") }, "\(events())")

        let session = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        defer { session.close() }
        let manifest = try session.hello()
        let roles = manifest.devices.map(\.role)
        func send(_ role: String) throws -> ([InputEvent]) throws -> Void {
            let index = UInt8(try #require(roles.firstIndex(of: role)))
            return { frame in try session.send(frame.map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }, toDevice: index) }
        }

        try Gestures.play(Gestures.twoFingerScroll, try send("trackpad"))
        try session.ping()
        try await TaskVMTests.waitFor("a scroll in libinput inside the container", daemon: daemon) { PenTrackpadVMTests.scrolls(in: events()) }
        let scrolls = Self.lines(events(), "POINTER_SCROLL_FINGER") + Self.lines(events(), "POINTER_AXIS")
        #expect(scrolls.contains { $0.contains("vert") }, "\(events())")

        try Gestures.play(Gestures.penStroke, try send("pen"))
        try session.ping()
        try await TaskVMTests.waitFor("the pen to leave proximity in libinput inside the container", daemon: daemon) {
            events().contains("proximity-out")
        }
        let motion = Self.lines(events(), "TABLET_TOOL_AXIS")
        let pressures = motion.compactMap { PenTrackpadVMTests.number(after: "pressure:", in: $0) }
        let tilts = motion.compactMap { PenTrackpadVMTests.number(after: "tilt:", in: $0) }
        // The stroke presses from 1000 to 3000 of 4095 and tilts from 10 to 20 degrees.
        #expect(pressures.contains { $0 > 0.3 } && tilts.contains { $0 > 15 }, "\(events())")
        print("libinput in the container: \(scrolls.first ?? "")\n\(motion.last ?? "")")

        _ = try await client.stopTask(task.id.rawValue)
        _ = try await client.releaseLease(other.id.rawValue, keepDirectories: false)
        daemon.stop()
    }

    /// `libinput list-devices`'s blocks by their `Kernel:` node.
    static func blocks(_ listing: String) -> [String: String] {
        var blocks: [String: String] = [:]
        for block in listing.components(separatedBy: "\n\n") {
            guard let kernel = block.split(separator: "\n").first(where: { $0.hasPrefix("Kernel:") }) else { continue }
            blocks[kernel.dropFirst("Kernel:".count).trimmingCharacters(in: .whitespaces)] = block
        }
        return blocks
    }

    /// The words of a block's `Capabilities:` line.
    static func capabilities(_ block: String) -> [String] {
        let line = block.split(separator: "\n").first { $0.hasPrefix("Capabilities:") } ?? ""
        return line.split(separator: " ").dropFirst().map(String.init)
    }

    /// `libinput debug-events`'s lines for events of `type`, each with its tab-indented
    /// continuation lines joined to it (as ``LibinputEvents/events(_:)`` reads a running one).
    static func lines(_ output: String, _ type: String) -> [String] {
        var joined: [String] = []
        for line in output.split(separator: "\n") {
            if line.hasPrefix("\t"), !joined.isEmpty { joined[joined.count - 1] += String(line) } else { joined.append(String(line)) }
        }
        return joined.filter { $0.split(whereSeparator: \.isWhitespace).dropFirst().first.map(String.init) == type }
    }
}
