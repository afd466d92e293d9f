import Agent
import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// What programs inside a session's container see of its devices through udev: libinput's udev
/// backend and SDL2 (the host's own builds, through the host's /usr bound read-only), real
/// dockerd, udevd and kernel in the VM.
@Suite(.serialized) struct SessionViewVMTests {
    static let scripts = repositoryRoot.appending(path: "Tests/VMTests/Session").path

    /// A one-container task on the host-userland image: the host's /usr, this suite's scripts
    /// at /scripts, the Python session client at /client, a placeholder directory at /data.
    static func definition(family: String, root: String, command: String, labels: [String: String]) -> Data {
        let task: [String: Any] = [
            "family": family,
            "volumes": [
                ["name": "session", "host": ["sourcePath": root + "/%%FRACTAL_ID_PLACEHOLDER%%"]],
                ["name": "usr", "host": ["sourcePath": "/usr"]],
                ["name": "scripts", "host": ["sourcePath": scripts]],
                ["name": "client", "host": ["sourcePath": repositoryRoot.appending(path: "clients/python").path]],
            ],
            "containerDefinitions": [[
                "name": "app",
                "image": DockerTestImage.hostUserlandReference,
                "essential": true,
                "command": ["/bin/sh", "-c", command],
                "mountPoints": [
                    ["sourceVolume": "session", "containerPath": "/data"],
                    ["sourceVolume": "usr", "containerPath": "/usr", "readOnly": true],
                    ["sourceVolume": "scripts", "containerPath": "/scripts", "readOnly": true],
                    ["sourceVolume": "client", "containerPath": "/client", "readOnly": true],
                ],
                "dockerLabels": labels,
            ]],
        ]
        return try! JSONSerialization.data(withJSONObject: task)
    }

    /// The VM, the rules, the host-userland image and a daemon: what each container test starts from.
    static func startWithContainers() async throws -> (DaemonProcess, FractalClient) {
        try requireVM()
        try installUdevRules()
        _ = try await DockerTestImage.ensureHostUserland()
        // The task binds these host paths as they are: the operator's allow-list says so.
        let hostPaths = ["/usr", scripts, repositoryRoot.appending(path: "clients/python").path]
        let daemon = try DaemonProcess(extraArguments: hostPaths.flatMap { ["--allow-host-path", $0] })
        return (daemon, daemon.client())
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    static func eventNode(_ lease: LeaseResponse, _ role: DeviceRole) throws -> String {
        try #require(lease.devices.first { $0.role == role }?.nodes.first { $0.kind == "event" }?.path)
    }

    @Test func libinputAndSDLInsideTheContainerSeeExactlyItsOwnDevices() async throws {
        let (daemon, client) = try await Self.startWithContainers()
        defer { Task { await client.shutdown() } }
        // Another session's devices exist on the host at the same time, with the same names.
        let other = try await client.createLease(CreateLeaseRequest(devices: ["keyboard", "mouse", "tablet", "gamepad"]))
        let command = """
            libinput list-devices > /data/libinput.txt 2>&1; python3 /scripts/sdl_session.py list > /data/sdl.txt 2>&1; \
            ls /run/udev/data > /data/records; echo done > /data/done; sleep 120
            """
        let task = try await client.runTask(definition: Self.definition(
            family: "view", root: daemon.root, command: command, labels: ["fractal.devices": "keyboard,mouse,tablet,gamepad"]))
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        let directory = daemon.root + "/" + task.id.rawValue
        try await TaskVMTests.waitFor("the container's listings", daemon: daemon) { FileManager.default.fileExists(atPath: directory + "/done") }

        let libinput = Self.read(directory + "/libinput.txt")
        let kernels = libinput.split(separator: "\n").filter { $0.hasPrefix("Kernel:") }
            .map { $0.dropFirst("Kernel:".count).trimmingCharacters(in: .whitespaces) }.sorted()
        // libinput (udev backend, seat0) lists the keyboard, mouse and pointer; gamepads are not its business.
        #expect(kernels == [try Self.eventNode(lease, .keyboard), try Self.eventNode(lease, .mouse), try Self.eventNode(lease, .tablet)].sorted(), "\(libinput)")
        for role in [DeviceRole.keyboard, .mouse, .tablet, .gamepad] {
            #expect(!kernels.contains(try Self.eventNode(other, role)))
        }
        #expect(libinput.contains("Fractal Virtual Keyboard"))

        let sdl = Self.read(directory + "/sdl.txt").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(sdl.count == 1, "\(Self.read(directory + "/sdl.txt"))")
        #expect(sdl.first?["path"] as? String == (try Self.eventNode(lease, .gamepad)))
        #expect(sdl.first?["gameController"] as? Bool == true)

        // Records for exactly the lease's devices: each input device and each of its nodes.
        let records = Self.read(directory + "/records").split(separator: "\n").map(String.init).sorted()
        let expected = lease.devices.flatMap { device in ["+input:" + device.sysname] + device.nodes.map { "c\($0.major):\($0.minor)" } }.sorted()
        #expect(records == expected)

        _ = try await client.stopTask(task.id.rawValue)
        _ = try await client.releaseLease(other.id.rawValue, keepDirectories: false)
        #expect(!FileManager.default.fileExists(atPath: daemon.sessionRoot + "/" + task.id.rawValue))
        daemon.stop()
    }

    @Test func aGamepadPluggedMidSessionConnectsAndDisconnectsInSDL() async throws {
        let (daemon, client) = try await Self.startWithContainers()
        defer { Task { await client.shutdown() } }
        let command = "python3 /scripts/sdl_session.py watch /data/sdl-events 100 > /data/sdl.log 2>&1; sleep 20"
        let task = try await client.runTask(definition: Self.definition(
            family: "hotplug", root: daemon.root, command: command,
            labels: ["fractal.devices": "keyboard", "fractal.hotplug": "gamepad"]))
        let id = task.id.rawValue
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        let gamepad = try Self.eventNode(lease, .gamepad)
        #expect(lease.devices.first { $0.role == .gamepad }?.plugged == false)
        let events = daemon.root + "/" + id + "/sdl-events"
        func lines() -> [[String: Any]] {
            Self.read(events).split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        try await TaskVMTests.waitFor("SDL to start in the container", daemon: daemon) { lines().first?["event"] as? String == "ready" }
        #expect((lines().first?["joysticks"] as? [Any])?.isEmpty == true, "an unplugged slot is not seen: \(Self.read(events))")

        // Only the task's slots can be plugged while its container runs.
        await #expect(throws: FractalClientError.self) { _ = try await client.plug(id, role: "touchscreen") }

        let plugged = try await client.plug(id, role: "gamepad")
        #expect(plugged.devices.first { $0.role == .gamepad }?.plugged == true)
        try await TaskVMTests.waitFor("SDL to see the gamepad connect", daemon: daemon) {
            lines().contains { $0["event"] as? String == "added" }
        }
        let added = try #require(lines().first { $0["event"] as? String == "added" })
        #expect(added["path"] as? String == gamepad)
        #expect(added["gameController"] as? Bool == true)

        _ = try await client.unplug(id, role: "gamepad")
        try await TaskVMTests.waitFor("SDL to see the gamepad disconnect", daemon: daemon) {
            lines().contains { $0["event"] as? String == "removed" }
        }
        // Plugged again: connects again.
        _ = try await client.plug(id, role: "gamepad")
        try await TaskVMTests.waitFor("SDL to see the gamepad connect again", daemon: daemon) {
            lines().filter { $0["event"] as? String == "added" }.count == 2
        }
        _ = try await client.stopTask(id)
        daemon.stop()
    }

    /// A task's containers start while udevd works on its devices. Docker's start takes longer
    /// than udevd, so ordinarily the first process finds everything in place (TaskVMTests); here
    /// udevd is held up on purpose (its queue stopped before the lease), so the first process
    /// finds its nodes (with the rules' mode and group: the daemon gave the host's nodes those
    /// before Docker copied them) but no udev records, and libinput (which takes only devices
    /// udev initialised) none. Once udevd goes on, the daemon announces each device added, and
    /// libinput's running monitor adds the keyboard as it would a hot-plug.
    @Test func aContainerStartedBeforeUdevdIsDoneHearsItsDevicesAddedOnceItIs() async throws {
        try requireVM()
        try installUdevRules()
        _ = try await DockerTestImage.ensureHostUserland()
        let hostPaths = ["/usr", Self.scripts, repositoryRoot.appending(path: "clients/python").path]
        // udevd makes no progress while held: the lease must not give up meanwhile.
        let daemon = try DaemonProcess(extraArguments: hostPaths.flatMap { ["--allow-host-path", $0] } + ["--udev-timeout", "180"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let id = FractalID.random().rawValue
        let directory = daemon.root + "/" + id
        let command = "stat -c '%n %a %g' /dev/input/event* > /data/nodes-at-start; ls /run/udev/data > /data/records-at-start 2>&1; "
            + "stdbuf -oL libinput debug-events > /data/events.txt 2>&1 & sleep 3; echo > /data/ready; sleep 60"
        try runTool(["udevadm", "control", "--stop-exec-queue"])
        var held = true
        defer { if held { _ = try? runTool(["udevadm", "control", "--start-exec-queue"]) } }
        let starting = Task {
            try await client.runTask(definition: Self.definition(
                family: "held", root: daemon.root, command: command, labels: ["fractal.devices": "keyboard,gamepad"]), id: id)
        }
        func added() -> [String] { LibinputInContainerVMTests.lines(Self.read(directory + "/events.txt"), "DEVICE_ADDED") }
        try await TaskVMTests.waitFor("libinput to run in the container while udevd is held", timeout: .seconds(120), daemon: daemon) {
            FileManager.default.fileExists(atPath: directory + "/ready")
        }
        // The gap: nodes there, no records, so libinput has added nothing.
        #expect(added().isEmpty, "\(Self.read(directory + "/events.txt"))")
        let nodesAtStart = Self.read(directory + "/nodes-at-start").split(separator: "\n").map(String.init)
        #expect(!Self.read(directory + "/records-at-start").contains("c13:"), "\(Self.read(directory + "/records-at-start"))")

        try runTool(["udevadm", "control", "--start-exec-queue"])
        held = false
        let task = try await starting.value
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        let gamepad = try Self.eventNode(lease, .gamepad)
        try await TaskVMTests.waitFor("libinput in the container to hear the keyboard added", daemon: daemon) {
            added().contains { $0.contains("Fractal Virtual Keyboard") }
        }
        #expect(added().count == 1, "\(added())")
        // The container's nodes had, and have, the mode and group udevd gave the host's.
        let container = try #require(task.containers.first?.id)
        let inside = try runTool(["docker", "exec", container, "stat", "-c", "%n %a %g", try Self.eventNode(lease, .keyboard), gamepad])
        let onHost = [try Self.eventNode(lease, .keyboard), gamepad].map { path -> String in
            var info = stat()
            _ = stat(path, &info)
            return "\(path) \(String(info.st_mode & 0o7777, radix: 8)) \(info.st_gid)"
        }
        #expect(inside.output.split(separator: "\n").map(String.init) == onHost)
        #expect(nodesAtStart.sorted() == onHost.sorted())
        #expect(onHost.allSatisfy { !$0.hasSuffix(" 600 0") }, "\(onHost)")
        // And every record is in the view.
        let session = try #require(lease.session)
        let records = try FileManager.default.contentsOfDirectory(atPath: session.udevDirectory + "/data").sorted()
        #expect(records == lease.devices.flatMap { device in ["+input:" + device.sysname] + device.nodes.map { "c\($0.major):\($0.minor)" } }.sorted())
        _ = try await client.stopTask(id)
        daemon.stop()
    }

    /// The view matches a container's nodes to the host's once udevd is done (a container that
    /// started before). A hostile container swaps its keyboard's node for a symlink to a file of
    /// its own, and its mouse's for a regular file, in that gap: the daemon, root, must change
    /// neither what the link leads to nor the file, and make no node in their place.
    @Test func aContainerThatSwapsItsNodesBeforeUdevdIsDoneGetsNothingChanged() async throws {
        try requireVM()
        try installUdevRules()
        _ = try await DockerTestImage.ensureHostUserland()
        let hostPaths = ["/usr", Self.scripts, repositoryRoot.appending(path: "clients/python").path]
        let daemon = try DaemonProcess(extraArguments: hostPaths.flatMap { ["--allow-host-path", $0] } + ["--udev-timeout", "180"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let id = FractalID.random().rawValue
        let directory = daemon.root + "/" + id
        // The bait is in the session's directory: on the host, a file the daemon could reach.
        let command = "echo bait > /data/bait && chmod 600 /data/bait && cd /dev/input && "
            + "k=$(ls event* | head -n 1) && m=$(ls event* | sed -n 2p) && rm $k $m && ln -s /data/bait $k && echo file > $m && "
            + "echo $k $m > /data/swapped; sleep 60"
        try runTool(["udevadm", "control", "--stop-exec-queue"])
        var held = true
        defer { if held { _ = try? runTool(["udevadm", "control", "--start-exec-queue"]) } }
        let starting = Task {
            try await client.runTask(definition: Self.definition(
                family: "swap", root: daemon.root, command: command, labels: ["fractal.devices": "keyboard,mouse"]), id: id)
        }
        try await TaskVMTests.waitFor("the container to swap its nodes while udevd is held", timeout: .seconds(120), daemon: daemon) {
            FileManager.default.fileExists(atPath: directory + "/swapped")
        }
        try runTool(["udevadm", "control", "--start-exec-queue"])
        held = false
        let task = try await starting.value
        let lease = try #require(task.lease.map { LeaseResponse($0) })
        #expect(lease.devices.count == 2)
        // The view was written (the daemon went through its match) and the swaps stand.
        let session = try #require(lease.session)
        let records = lease.devices.flatMap { device in ["+input:" + device.sysname] + device.nodes.map { "c\($0.major):\($0.minor)" } }.sorted()
        try await TaskVMTests.waitFor("the view's records", daemon: daemon) {
            ((try? FileManager.default.contentsOfDirectory(atPath: session.udevDirectory + "/data")) ?? []).sorted() == records
        }
        let swapped = Self.read(directory + "/swapped").split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        try #require(swapped.count == 2)
        let container = try #require(task.containers.first?.id)
        let inside = try runTool(["docker", "exec", container, "stat", "-c", "%n %F %a", "/dev/input/" + swapped[0], "/dev/input/" + swapped[1], "/data/bait"])
        #expect(inside.output.split(separator: "\n").map(String.init) == [
            "/dev/input/\(swapped[0]) symbolic link 777", "/dev/input/\(swapped[1]) regular file 644", "/data/bait regular file 600",
        ], "\(inside.output)")
        var bait = stat()
        #expect(stat(directory + "/bait", &bait) == 0 && bait.st_mode & 0o7777 == 0o600 && bait.st_uid == 0)
        #expect(Self.read(directory + "/bait") == "bait\n")
        _ = try await client.stopTask(id)
        daemon.stop()
    }

    @Test func aLeaseWithoutContainersGetsAndLosesRealDevices() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let (status, output) = try daemon.devicectl(["create", "--devices", "keyboard", "--hotplug", "gamepad", "--json"])
        #expect(status == 0, "\(output)")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let lease = try decoder.decode(LeaseResponse.self, from: Data(output.utf8))
        let id = lease.id.rawValue
        #expect(lease.devices.map(\.plugged) == [true, false])
        let session = try #require(lease.session)
        #expect(FileManager.default.fileExists(atPath: session.udevDirectory + "/control"))
        let keyboardRecords = lease.devices[0].nodes.map { "c\($0.major):\($0.minor)" }
        let gamepadRecords = lease.devices[1].nodes.map { "c\($0.major):\($0.minor)" }
        func records() -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: session.udevDirectory + "/data")) ?? []) }
        #expect(records().isSuperset(of: keyboardRecords) && records().isDisjoint(with: gamepadRecords))

        // The slot plugs in; a role the lease lacks is made; unplugging it destroys it.
        let plugged = try daemon.devicectl(["plug", id, "gamepad"])
        #expect(plugged.status == 0, "\(plugged.output)")
        #expect(records().isSuperset(of: gamepadRecords))
        let again = try daemon.devicectl(["plug", id, "gamepad"])
        #expect(again.status != 0 && again.output.contains("already plugged in"), "\(again.output)")
        let mouse = try await client.plug(id, role: "mouse")
        #expect(mouse.devices.map(\.role) == [.keyboard, .gamepad, .mouse])
        #expect(sysfsDevices(of: [id]).count == 3)
        let unplugged = try await client.unplug(id, role: "mouse")
        #expect(unplugged.devices.map(\.role) == [.keyboard, .gamepad])
        #expect(sysfsDevices(of: [id]).count == 2)
        let gone = try daemon.devicectl(["unplug", id, "mouse"])
        #expect(gone.status != 0 && gone.output.contains("no device with role 'mouse'"), "\(gone.output)")
        let metrics = try await client.metrics()
        #expect(metrics.contains(#"fractal_hotplug_total{action="plug"} 2"#), "\(metrics)")
        #expect(metrics.contains(#"fractal_hotplug_total{action="unplug"} 1"#), "\(metrics)")

        _ = try await client.releaseLease(id, keepDirectories: false)
        #expect(!FileManager.default.fileExists(atPath: session.directory))
        #expect(sysfsDevices(of: [id]).isEmpty)
        daemon.stop()
    }

    @Test func aContainerCannotSteerHotPlugOutOfItsRoot() async throws {
        let (daemon, client) = try await Self.startWithContainers()
        defer { Task { await client.shutdown() } }
        // A host directory the container names through an absolute symlink in its own /dev.
        let bait = "/tmp/fractal-escape-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: bait, withIntermediateDirectories: true)
        let command = "rm -rf /dev/input && ln -s \(bait) /dev/input && echo ready > /data/ready; sleep 120"
        let task = try await client.runTask(definition: Self.definition(
            family: "escape", root: daemon.root, command: command,
            labels: ["fractal.devices": "keyboard", "fractal.hotplug": "gamepad"]))
        let id = task.id.rawValue
        try await TaskVMTests.waitFor("the container's symlink", daemon: daemon) {
            FileManager.default.fileExists(atPath: daemon.root + "/" + id + "/ready")
        }
        _ = try await client.plug(id, role: "gamepad")
        _ = try await client.unplug(id, role: "gamepad")
        #expect(try FileManager.default.contentsOfDirectory(atPath: bait).isEmpty)
        #expect(daemon.logText.contains("has no usable /dev/input"), "\(daemon.logText.suffix(2000))")
        _ = try await client.stopTask(id)
        daemon.stop()
    }

    @Test func aClientInTheContainerTypesThroughTheSocketOrItsOwnFds() async throws {
        let (daemon, client) = try await Self.startWithContainers()
        defer { Task { await client.shutdown() } }
        func run(_ mode: String, policy: String) async throws -> (id: String, result: [String: Any]) {
            let task = try await client.runTask(definition: Self.definition(
                family: mode, root: daemon.root,
                command: "python3 /scripts/session_in_container.py \(mode) /data/result.json > /data/client.log 2>&1; sleep 120",
                labels: ["fractal.devices": "keyboard,mouse", "fractal.input-policy": policy]))
            let id = task.id.rawValue
            let path = daemon.root + "/" + id + "/result.json"
            try await TaskVMTests.waitFor("the \(mode) client in the container", daemon: daemon) {
                FileManager.default.fileExists(atPath: path) || Self.read(daemon.root + "/" + id + "/client.log").contains("Error")
            }
            try await Task.sleep(for: .milliseconds(100))
            let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(filePath: path))) as? [String: Any]
            return (id, try #require(result, "\(Self.read(daemon.root + "/" + id + "/client.log"))"))
        }
        func keys(_ result: [String: Any]) -> [[Int]] { (result["events"] as? [[Int]] ?? []).filter { $0[0] == 1 } }

        // Injection under the default policy: Ctrl and Alt arrive, F2 with them and SysRq never do.
        let injected = try await run("inject", policy: "default")
        #expect(keys(injected.result) == [[1, 29, 1], [1, 56, 1], [1, 56, 0], [1, 29, 0], [1, 30, 1], [1, 30, 0]], "\(injected.result)")
        // Hand-off under the trusted policy: the client writes to the keyboard's own uinput fd.
        let handedOff = try await run("handoff", policy: "trusted")
        #expect(keys(handedOff.result) == [[1, 30, 1], [1, 30, 0]], "\(handedOff.result)")
        #expect((handedOff.result["withheld"] as? [Any])?.isEmpty == true)
        _ = try await client.stopTask(injected.id)
        _ = try await client.stopTask(handedOff.id)
        daemon.stop()
    }
}
