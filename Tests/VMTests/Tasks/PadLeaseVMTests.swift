import CUInput
import DeviceManager
import FractalAPI
import FractalClient
import FractalSessionClient
import FractalSessionProtocol
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A lease's DualSense and Switch Pro as the daemon makes them: real uhid, the kernel's
/// hid-playstation and hid-nintendo, udevd running our rules, dockerd starting a task's
/// container, SDL2 and evtest inside it, and the session socket driving and hearing the pads.
@Suite(.serialized) struct PadLeaseVMTests {
    @Test func aTasksPadsAreKnownInsideItsContainerAndNowhereElseAndTalkThroughTheSessionSocket() async throws {
        let (daemon, client) = try await SessionViewVMTests.startWithContainers()
        defer { Task { await client.shutdown() } }
        // Another session's DualSense exists on the host at the same time.
        let other = try await client.createLease(CreateLeaseRequest(devices: ["dualsense"]))
        let command = """
            while [ ! -e /data/go ]; do sleep 0.2; done; \
            python3 /scripts/sdl_session.py pads /data/sdl.txt > /data/sdl.log 2>&1; \
            for n in /dev/input/event*; do echo "== $n"; timeout 2 stdbuf -oL evtest $n < /dev/null; done > /data/evtest.txt 2>&1; \
            ls /dev /dev/input > /data/dev.txt; echo done > /data/done; sleep 120
            """
        let task = try await client.runTask(definition: SessionViewVMTests.definition(
            family: "pads", root: daemon.root, command: command,
            labels: ["fractal.devices": "dualsense,switch-pro", "fractal.input-policy": "default"]))
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        let dualSense = try #require(lease.devices.first { $0.role == .dualsense })
        let switchPro = try #require(lease.devices.first { $0.role == .switchPro })

        // Every node the drivers made belongs to the lease: three input devices and hidraw for
        // the DualSense, two and hidraw for the Switch Pro.
        func kinds(_ device: LeasedDevice) -> [String] { device.nodes.map { $0.kind + ($0.part.map { "/" + $0.rawValue } ?? "") } }
        #expect(Set(kinds(dualSense)).isSuperset(of: ["event", "joystick", "event/motion", "event/touchpad", "hidraw"]), "\(kinds(dualSense))")
        #expect(Set(kinds(switchPro)).isSuperset(of: ["event", "joystick", "event/motion", "hidraw"]), "\(kinds(switchPro))")
        for device in [dualSense, switchPro] {
            for node in device.nodes {
                // Off the host's seat, openable by root and the daemon's group only, linked by FractalID.
                let record = SessionViewVMTests.read("/run/udev/data/c\(node.major):\(node.minor)")
                #expect(record.contains("E:FRACTAL_HOST_HIDDEN=1") && record.contains("E:FRACTAL_ID=\(lease.id.rawValue)"), "\(node.path): \(record)")
                // Current tags (Q:): G: keeps every tag an earlier rule set in the same event, 70-uaccess's too.
                #expect(!record.contains("Q:uaccess\n") && !record.contains("Q:seat\n"), "\(node.path): \(record)")
                var status = stat()
                #expect(stat(node.path, &status) == 0 && status.st_mode & 0o777 == 0o660, "\(node.path)")
                let kind = try #require(DeviceNode.Kind(rawValue: node.kind))
                let link = DeviceNode.stableLink(id: lease.id, role: device.role, kind: kind, part: node.part)
                #expect(HIDLinks.resolve(link) == node.path, "\(link)")
            }
        }

        // The streaming server's side: the pads take the gamepad's events, their rumble comes back.
        let session = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        defer { session.close() }
        let roles = try session.hello().devices.map(\.role)
        let dualSenseIndex = UInt8(try #require(roles.firstIndex(of: "dualsense")))
        let gamepadNode = try #require(dualSense.nodes.first { $0.kind == "event" && $0.part == nil })
        let reader = try EvdevNode(gamepadNode.path)
        try session.send([
            SessionEvent(type: UInt16(EV_KEY), code: UInt16(BTN_SOUTH), value: 1),
            SessionEvent(type: UInt16(EV_ABS), code: UInt16(ABS_X), value: 32767),
            SessionEvent(type: UInt16(EV_SYN), code: UInt16(SYN_REPORT), value: 0),
        ], toDevice: dualSenseIndex)
        // One frame, whatever else it changed (the first report also centres the other sticks).
        var read: [InputEvent] = []
        while read.last?.type != UInt16(EV_SYN) { read += try reader.read(count: 1) }
        #expect(read.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_SOUTH), value: 1)), "\(read)")
        #expect(read.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_X), value: 255)), "\(read)")

        try Data().write(to: URL(filePath: daemon.root + "/" + task.id.rawValue + "/go"))
        var heard: [SessionNotification] = []
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline && !FileManager.default.fileExists(atPath: daemon.root + "/" + task.id.rawValue + "/done") {
            if let notification = try session.nextNotification(timeout: .milliseconds(200)) { heard.append(notification) }
        }
        let directory = daemon.root + "/" + task.id.rawValue
        let sdl = SessionViewVMTests.read(directory + "/sdl.txt")
        print("SDL2 in the container:\n\(sdl)\(SessionViewVMTests.read(directory + "/sdl.log"))")
        let controllers = sdl.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        // SDL's HIDAPI layer takes the DualSense by its hidraw node, its evdev layer the Switch Pro.
        func controller(_ device: LeasedDevice) -> [String: Any]? {
            controllers.first { entry in HIDLinks.sdlPaths(device).contains { $0 == entry["path"] as? String } }
        }
        // SDL_CONTROLLER_TYPE_PS5 is 7, SDL_CONTROLLER_TYPE_NINTENDO_SWITCH_PRO 5.
        let ps5 = controller(dualSense)
        #expect(ps5?["type"] as? Int == 7, "\(sdl)")
        #expect(ps5?["touchpads"] as? Int == 1 && ps5?["gyro"] as? Bool == true && ps5?["accelerometer"] as? Bool == true, "\(sdl)")
        #expect(ps5?["led"] as? Bool == true && ps5?["setLED"] as? Int == 0, "\(sdl)")
        #expect(controller(switchPro)?["type"] as? Int == 5, "\(sdl)")
        #expect(controllers.count == 2, "another session's pad is visible: \(sdl)")
        // What the game asked of the pad, at the streaming server's end.
        #expect(heard.contains(.rumble(device: dualSenseIndex, strong: 0xC0 * 257, weak: 0x40 * 257, durationMs: 0)), "\(heard)")
        #expect(heard.contains(.lightbar(device: dualSenseIndex, red: 16, green: 32, blue: 48)), "\(heard)")

        // evtest inside: exactly the lease's event nodes, the DualSense's motion node an accelerometer.
        let evtest = SessionViewVMTests.read(directory + "/evtest.txt")
        let listed = evtest.split(separator: "\n").filter { $0.hasPrefix("== ") }.map { String($0.dropFirst(3)) }
        let ours = (dualSense.nodes + switchPro.nodes).filter { $0.kind == "event" }.map(\.path)
        #expect(listed.sorted() == ours.sorted(), "\(evtest)")
        let motion = try #require(dualSense.nodes.first { $0.part == .motion && $0.kind == "event" })
        let motionBlock = evtest.components(separatedBy: "== ").first { $0.hasPrefix(motion.path) } ?? ""
        #expect(motionBlock.contains("INPUT_PROP_ACCELEROMETER"), "\(evtest)")
        // The hidraw nodes in the container's /dev are the lease's two.
        let dev = SessionViewVMTests.read(directory + "/dev.txt")
        let hidraws = dev.split(whereSeparator: \.isWhitespace).filter { $0.hasPrefix("hidraw") }.map { "/dev/" + $0 }
        let ourHidraws = (dualSense.nodes + switchPro.nodes).filter { $0.kind == "hidraw" }.map(\.path)
        #expect(hidraws.sorted() == ourHidraws.sorted(), "\(dev)")
        let otherHidraw = try #require(other.devices.first?.nodes.first { $0.kind == "hidraw" })
        #expect(!hidraws.contains(otherHidraw.path))

        // The lightbar as a game (here: the host through the driver's LED) sets it arrives as a notification.
        let dualSenseHidraw = try #require(dualSense.nodes.first { $0.kind == "hidraw" })
        let led = try #require(HIDLinks.lightbar(ofHidraw: dualSenseHidraw.name))
        try "16 32 48".write(toFile: led + "/multi_intensity", atomically: false, encoding: .utf8)
        try "255".write(toFile: led + "/brightness", atomically: false, encoding: .utf8)
        var lightbar: SessionNotification?
        let lightDeadline = ContinuousClock.now + .seconds(10)
        while lightbar == nil && ContinuousClock.now < lightDeadline {
            let notification = try session.nextNotification(timeout: .milliseconds(200))
            if notification == .lightbar(device: dualSenseIndex, red: 16, green: 32, blue: 48) { lightbar = notification }
        }
        #expect(lightbar == .lightbar(device: dualSenseIndex, red: 16, green: 32, blue: 48), "\(String(describing: lightbar))")

        // Stopping the task releases the lease: every node and the HID devices go.
        _ = try await client.stopTask(task.id.rawValue)
        try await TaskVMTests.waitFor("the pads to go with the lease", daemon: daemon) {
            !(dualSense.nodes + switchPro.nodes).contains { FileManager.default.fileExists(atPath: $0.path) }
        }
        _ = try await client.releaseLease(other.id.rawValue, keepDirectories: false)
        daemon.stop()
    }

    @Test func fourPadsInOneSessionAreFourPlayersAndOneUnpluggedLeavesTheOthers() async throws {
        let (daemon, client) = try await SessionViewVMTests.startWithContainers()
        defer { Task { await client.shutdown() } }
        // Another session's DualSense binds first: hid-playstation would light player 2 on ours.
        let other = try await client.createLease(CreateLeaseRequest(devices: ["dualsense"]))
        let command = "python3 /scripts/sdl_session.py watch /data/sdl-events 100 > /data/sdl.log 2>&1; sleep 20"
        let task = try await client.runTask(definition: SessionViewVMTests.definition(
            family: "four-pads", root: daemon.root, command: command,
            labels: ["fractal.devices": "dualsense,gamepad,switch-pro,dualsense"]))
        let id = task.id.rawValue
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        #expect(lease.devices.map(\.handle.description) == ["dualsense", "gamepad", "switch-pro", "dualsense-2"])
        func gamepadNode(_ device: LeasedDevice) -> String? { device.nodes.first { $0.kind == "event" && $0.part == nil }?.path }
        // Each by its own link; the second DualSense's is numbered.
        let second = try #require(lease.devices.last)
        #expect(HIDLinks.resolve("/dev/input/by-fractal-id/\(id)/dualsense-2") == gamepadNode(second))
        #expect(HIDLinks.resolve("/dev/input/by-fractal-id/\(id)/dualsense-2-hidraw") == second.nodes.first { $0.kind == "hidraw" }?.path)

        // The session's player numbers, on the pads' own LEDs as the console lights them.
        func lit(_ device: LeasedDevice, _ color: String) -> [Bool] {
            guard let hidraw = device.nodes.first(where: { $0.kind == "hidraw" }),
                  let hid = HIDLinks.resolve("/sys/class/hidraw/\(hidraw.name)/device") else { return [] }
            let leds = ((try? FileManager.default.contentsOfDirectory(atPath: hid + "/leds")) ?? []).filter { $0.contains(":\(color):player-") }.sorted()
            return leds.map { SessionViewVMTests.read(hid + "/leds/" + $0 + "/brightness").trimmingCharacters(in: .whitespacesAndNewlines) != "0" }
        }
        #expect(lit(lease.devices[0], "white") == [false, false, true, false, false], "player 1")
        #expect(lit(lease.devices[2], "green").prefix(4) == [true, true, true, false], "player 3")
        #expect(lit(lease.devices[3], "white") == [true, true, false, true, true], "player 4")
        let session = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        defer { session.close() }
        let manifest = try session.hello()
        #expect(manifest.devices.map(\.device) == ["dualsense", "gamepad", "switch-pro", "dualsense-2"])
        #expect(manifest.devices.map(\.player) == [1, 2, 3, 4])

        let events = daemon.root + "/" + id + "/sdl-events"
        func lines() -> [[String: Any]] {
            SessionViewVMTests.read(events).split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        try await TaskVMTests.waitFor("SDL to start in the container", daemon: daemon) { lines().first?["event"] as? String == "ready" }
        // SDL inside: exactly the four, as four players (SDL counts from 0), none of the other session's.
        let joysticks = (lines().first?["joysticks"] as? [[String: Any]]) ?? []
        let listed = joysticks.compactMap { $0["path"] as? String }
        #expect(listed.count == 4 && lease.devices.allSatisfy { device in HIDLinks.sdlPaths(device).contains { listed.contains($0) } },
                "\(SessionViewVMTests.read(events))")
        #expect(Set(joysticks.compactMap { $0["player"] as? Int }) == [0, 1, 2, 3], "\(SessionViewVMTests.read(events))")
        #expect(joysticks.allSatisfy { $0["gameController"] as? Bool == true })
        let otherPaths = try #require(other.devices.first.map(HIDLinks.sdlPaths))
        #expect(!listed.contains { otherPaths.contains($0) })

        // The third (a Switch Pro) unplugged: SDL sees it go, and only it.
        let unplugged = try await client.unplug(id, role: "switch-pro")
        #expect(unplugged.devices.map(\.plugged) == [true, true, false, true])
        try await TaskVMTests.waitFor("SDL to see the Switch Pro disconnect", daemon: daemon) {
            lines().contains { $0["event"] as? String == "removed" }
        }
        try await Task.sleep(for: .seconds(1))
        #expect(lines().filter { $0["event"] as? String == "removed" }.count == 1, "\(SessionViewVMTests.read(events))")
        // The other three still take the session's events.
        let reader = try EvdevNode(try #require(gamepadNode(second)))
        let again = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        defer { again.close() }
        _ = try again.hello()
        try again.send([
            SessionEvent(type: UInt16(EV_KEY), code: UInt16(BTN_EAST), value: 1),
            SessionEvent(type: UInt16(EV_SYN), code: UInt16(SYN_REPORT), value: 0),
        ], toDevice: 3)
        var read: [InputEvent] = []
        while read.last?.type != UInt16(EV_SYN) { read += try reader.read(count: 1) }
        #expect(read.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_EAST), value: 1)), "\(read)")

        _ = try await client.stopTask(id)
        _ = try await client.releaseLease(other.id.rawValue, keepDirectories: false)
        daemon.stop()
    }

    @Test func aDualSenseSlotPlugsIntoARunningContainerWithItsHidrawNode() async throws {
        let (daemon, client) = try await SessionViewVMTests.startWithContainers()
        defer { Task { await client.shutdown() } }
        let command = """
            python3 /scripts/sdl_session.py watch /data/sdl-events 100 > /data/sdl.log 2>&1 & \
            while true; do ls /dev /dev/input > /data/dev.txt; sleep 0.3; done
            """
        let task = try await client.runTask(definition: SessionViewVMTests.definition(
            family: "pad-slot", root: daemon.root, command: command,
            labels: ["fractal.devices": "keyboard", "fractal.hotplug": "dualsense"]))
        let id = task.id.rawValue
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        let pad = try #require(lease.devices.first { $0.role == .dualsense })
        #expect(!pad.plugged)
        let hidraw = try #require(pad.nodes.first { $0.kind == "hidraw" }).name
        let directory = daemon.root + "/" + id
        func lines() -> [[String: Any]] {
            SessionViewVMTests.read(directory + "/sdl-events").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        func inDev() -> Bool { SessionViewVMTests.read(directory + "/dev.txt").split(whereSeparator: \.isWhitespace).contains { $0 == hidraw } }
        try await TaskVMTests.waitFor("SDL to start in the container", daemon: daemon) { lines().first?["event"] as? String == "ready" }
        #expect((lines().first?["joysticks"] as? [Any])?.isEmpty == true)
        #expect(!inDev(), "an unplugged pad's hidraw node is in the container")

        _ = try await client.plug(id, role: "dualsense")
        try await TaskVMTests.waitFor("SDL to see the DualSense connect", daemon: daemon) {
            lines().contains { line in line["event"] as? String == "added" && HIDLinks.sdlPaths(pad).contains { $0 == line["path"] as? String } }
        }
        try await TaskVMTests.waitFor("the DualSense's hidraw node in the container's /dev", daemon: daemon) { inDev() }

        _ = try await client.unplug(id, role: "dualsense")
        try await TaskVMTests.waitFor("SDL to see the DualSense disconnect", daemon: daemon) {
            lines().contains { $0["event"] as? String == "removed" }
        }
        try await TaskVMTests.waitFor("the hidraw node to leave the container", daemon: daemon) { !inDev() }
        _ = try await client.stopTask(id)
        daemon.stop()
    }

    /// A session holds its DualSense's hidraw node read-write, so it can write any output report
    /// and ask for or set any feature report. All of that reaches only its own pad's uhid
    /// descriptor, where the daemon drops what is not the pad's and answers or refuses every
    /// request at once: the daemon keeps serving this session and every other. (The flood runs
    /// on the host, on the very node a container gets, with the same rights.)
    @Test func aHostileHidrawWriterReachesOnlyItsOwnPadAndStallsNothing() async throws {
        try requireVM()
        try installUdevRules()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let hostile = try await api.createLease(CreateLeaseRequest(devices: ["dualsense"]))
        let victim = try await api.createLease(CreateLeaseRequest(devices: ["dualsense"]))
        func node(_ lease: LeaseResponse, _ kind: String) throws -> LeasedNode {
            try #require(lease.devices.first?.nodes.first { $0.kind == kind && $0.part == nil })
        }
        let hostileSession = try SessionClient(connectingTo: try #require(hostile.session?.socketPath))
        defer { hostileSession.close() }
        _ = try hostileSession.hello()
        let victimSession = try SessionClient(connectingTo: try #require(victim.session?.socketPath))
        defer { victimSession.close() }
        _ = try victimSession.hello()

        // 3,000 output reports of any size and bytes (some 0x31 and 0x02 with bad checksums),
        // then 300 feature reports set and 300 asked for, of every report ID. Each request that
        // waited for an answer the daemon never gave would take the kernel's 5 s.
        let flood = """
            import fcntl, os, random, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            random.seed(13)
            written = refused = answered = 0
            for i in range(3000):
                size = random.randint(1, 200)
                data = bytes([random.choice([0x31, 0x02, random.randint(0, 255)])]) + os.urandom(size - 1)
                try:
                    os.write(fd, data); written += 1
                except OSError:
                    refused += 1
            for i in range(600):
                size = random.randint(2, 64)
                buffer = bytearray(os.urandom(size)); buffer[0] = random.randint(0, 255)
                request = (3 << 30) | (size << 16) | (ord('H') << 8) | (0x06 if i % 2 == 0 else 0x07)
                try:
                    fcntl.ioctl(fd, request, buffer, True); answered += 1
                except OSError:
                    refused += 1
            print(written, answered, refused)
            """
        let (status, output) = try runTool(["/usr/bin/python3", "-c", flood, try node(hostile, "hidraw").path], timeout: .seconds(240))
        #expect(status == 0, "\(output)")
        print("hostile hidraw writer: written, answered, refused: \(output)")

        // Both sessions are served, and the other session's pad takes its events as before.
        try hostileSession.ping()
        try victimSession.ping()
        let reader = try EvdevNode(try node(victim, "event").path)
        try victimSession.send([
            SessionEvent(type: UInt16(EV_KEY), code: UInt16(BTN_NORTH), value: 1),
            SessionEvent(type: UInt16(EV_SYN), code: UInt16(SYN_REPORT), value: 0),
        ], toDevice: 0)
        var read: [InputEvent] = []
        while read.last?.type != UInt16(EV_SYN) { read += try reader.read(count: 1) }
        #expect(read.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_NORTH), value: 1)), "\(read)")
        // Nothing the flood wrote became a notification of the other session.
        while let notification = try victimSession.nextNotification(timeout: .milliseconds(300)) {
            Issue.record("the other session heard \(notification)")
        }
        #expect(try await api.leases().count == 2)
        _ = try await api.releaseLease(hostile.id.rawValue, keepDirectories: false)
        _ = try await api.releaseLease(victim.id.rawValue, keepDirectories: false)
        daemon.stop()
    }

    @Test func aPadsDescriptorIsNeverHandedOffAndAMissingDriverFailsTheLeaseNamingIt() async throws {
        let (daemon, client) = try await SessionViewVMTests.startWithContainers()
        defer { Task { await client.shutdown() } }
        // Even `trusted` gets its uinput gamepad's fd, never the pad's /dev/uhid.
        let lease = try await client.createLease(CreateLeaseRequest(devices: ["gamepad", "switch-pro"], policy: "trusted"))
        let session = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        _ = try session.hello()
        let handed = try session.takeDevices()
        #expect(handed.manifest.attached.map(\.role) == ["gamepad"], "\(handed.manifest)")
        #expect(handed.manifest.withheld.map(\.role) == ["switch-pro"], "\(handed.manifest)")
        handed.close()
        session.close()
        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)

        // Without hid-nintendo the lease fails naming the module, and nothing is left.
        #expect(try runTool(["/usr/sbin/modprobe", "-r", "hid-nintendo"]).status == 0)
        defer { _ = try? runTool(["/usr/sbin/modprobe", "hid-nintendo"]) }
        let id = "pad-missing-\(UUID().uuidString.prefix(6).lowercased())"
        do {
            _ = try await client.createLease(CreateLeaseRequest(id: id, devices: ["keyboard", "switch-pro"]))
            Issue.record("a Switch Pro was made without hid-nintendo")
        } catch FractalClientError.api(let status, let message) {
            #expect(status == 503 && message.contains("hid-nintendo"), "\(status) \(message)")
        }
        #expect(try await client.leases().isEmpty)
        #expect(sysfsDevices(of: [id]).isEmpty)
        #expect(HIDLinks.hidDevices(withPhysContaining: id).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: daemon.sessionRoot + "/" + id))
        daemon.stop()
    }
}

/// Finding a pad's parts from the host, as an operator would.
enum HIDLinks {
    /// Where a link leads, or nil when it is not there.
    static func resolve(_ link: String) -> String? {
        guard let resolved = realpath(link, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The lightbar LED class device of the HID device that owns `hidraw` (e.g. "hidraw2").
    static func lightbar(ofHidraw hidraw: String) -> String? {
        guard let device = resolve("/sys/class/hidraw/\(hidraw)/device") else { return nil }
        let leds = (try? FileManager.default.contentsOfDirectory(atPath: device + "/leds")) ?? []
        return leds.first { $0.hasSuffix(":rgb:indicator") }.map { device + "/leds/" + $0 }
    }

    /// The paths SDL2 may list a pad at: its gamepad's event node (SDL's evdev layer) or its
    /// hidraw node (its HIDAPI layer, which takes a Bluetooth DualSense).
    static func sdlPaths(_ device: LeasedDevice) -> [String] {
        device.nodes.filter { ($0.kind == "event" && $0.part == nil) || $0.kind == "hidraw" }.map(\.path)
    }

    /// HID devices whose HID_PHYS contains `text`.
    static func hidDevices(withPhysContaining text: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/hid/devices")) ?? []
        return names.filter { name in
            SessionViewVMTests.read("/sys/bus/hid/devices/\(name)/uevent").split(separator: "\n").contains {
                $0.hasPrefix("HID_PHYS=") && $0.contains(text)
            }
        }
    }
}
