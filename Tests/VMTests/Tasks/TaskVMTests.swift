import Agent
import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// ECS task definitions run end to end: fractal-agent, the real dockerd and udevd in the VM.
@Suite(.serialized) struct TaskVMTests {
    /// A task definition with one container on the busybox test image and a placeholder volume.
    static func definition(family: String, root: String, command: String, devices: String = "keyboard,mouse,tablet") -> Data {
        let task: [String: Any] = [
            "taskDefinition": [
                "family": family,
                "volumes": [["name": "session", "host": ["sourcePath": root + "/%%FRACTAL_ID_PLACEHOLDER%%"]]],
                "containerDefinitions": [[
                    "name": "app",
                    "image": DockerTestImage.reference,
                    "essential": true,
                    "command": ["sh", "-c", command],
                    "mountPoints": [["sourceVolume": "session", "containerPath": "/data"]],
                    "dockerLabels": ["fractal.devices": devices],
                ]],
            ],
        ]
        return try! JSONSerialization.data(withJSONObject: task)
    }

    static func waitFor(
        _ what: String, timeout: Duration = .seconds(60), daemon: DaemonProcess? = nil, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw VMTestFailure(description: "timed out waiting for \(what)" + (daemon.map { "; the daemon's log:\n\($0.logText.suffix(3000))" } ?? ""))
    }

    static func leaseGone(_ client: FractalClient, _ id: FractalID) async -> Bool {
        do {
            _ = try await client.lease(id.rawValue)
            return false
        } catch let error as FractalClientError {
            return error.status == 404
        } catch {
            return false
        }
    }

    @Test func aTaskGetsItsDirectoryAndExactlyItsDevicesAndTypedKeysArrive() async throws {
        try requireVM()
        try installUdevRules()
        _ = try await DockerTestImage.ensure()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        // The container's first command notes what it sees (nodes with mode and group, udev
        // records, the session socket), lists its /dev/input and reads the first 4 events of each
        // event node.
        let command = "stat -c '%n %a %g' /dev/input/* > /data/nodes; ls /run/udev/data > /data/records; ls /run/fractal > /data/socket; "
            + "ls /dev/input > /data/devices; for n in /dev/input/event*; do head -c 96 $n > /data/${n##*/} & done; echo $FRACTAL_ID > /data/id; sleep 120"
        let task = try await client.runTask(definition: Self.definition(family: "typing", root: daemon.root, command: command))
        let lease = try #require(task.lease)
        let directory = daemon.root + "/" + task.id.rawValue
        #expect(lease.directories.map(\.path) == [directory])
        try await Self.waitFor("the container to write its files", daemon: daemon) { FileManager.default.fileExists(atPath: directory + "/id") }
        #expect(try String(contentsOfFile: directory + "/id", encoding: .utf8) == task.id.rawValue + "\n")
        let seen = try String(contentsOfFile: directory + "/devices", encoding: .utf8).split(separator: "\n").map(String.init).sorted()
        #expect(seen == lease.nodes.map { ($0.path as NSString).lastPathComponent }.sorted())

        // Docker's create and start ran while udevd worked on the devices; udevd was done long
        // before the start was (SessionViewVMTests holds udevd up to show the other case), so
        // what the first command saw is final. Every node has the mode and group udevd gave it
        // on the host (not devtmpfs's root-only 0600), every udev record is there, and so is the
        // session socket.
        let nodes = try String(contentsOfFile: directory + "/nodes", encoding: .utf8).split(separator: "\n").map(String.init).sorted()
        let onHost = lease.nodes.map { node -> String in
            var info = stat()
            _ = stat(node.path, &info)
            return "\(node.path) \(String(info.st_mode & 0o7777, radix: 8)) \(info.st_gid)"
        }.sorted()
        #expect(nodes == onHost)
        #expect(onHost.allSatisfy { !$0.hasSuffix(" 600 0") }, "\(onHost)")
        let session = try #require(lease.session)
        let records = try String(contentsOfFile: directory + "/records", encoding: .utf8).split(separator: "\n").map(String.init).sorted()
        let final = try FileManager.default.contentsOfDirectory(atPath: session.udevDirectory + "/data").sorted()
        #expect(!final.isEmpty && records == final)
        #expect(try String(contentsOfFile: directory + "/socket", encoding: .utf8) == "input.sock\n")

        let keyboard = try #require(lease.devices.first { $0.role == .keyboard }?.nodes.first)
        let (status, output) = try daemon.devicectl(["inject", task.id.rawValue, "keyboard", "--key", "KEY_A"])
        #expect(status == 0, "\(output)")
        let file = directory + "/" + (keyboard.path as NSString).lastPathComponent
        try await Self.waitFor("the container to read the keys") {
            ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0) == 96
        }
        let bytes = [UInt8](try Data(contentsOf: URL(filePath: file)))
        // struct input_event: 16 bytes of time, then type, code (u16) and value (s32).
        func word(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        let events: [String] = stride(from: 0, to: 96, by: 24).map { offset in
            "\(word(offset + 16)):\(word(offset + 18)):\(bytes[offset + 20])"
        }
        #expect(events == ["1:30:1", "0:0:0", "1:30:0", "0:0:0"])

        let listed = try daemon.devicectl(["tasks"]).output
        #expect(tableHasRow(listed, [task.id.rawValue, "typing", "app", "keyboard,mouse,tablet"]), "\(listed)")
        let stopped = try await client.stopTask(task.id.rawValue)
        #expect(stopped.id == task.id)
        #expect(await Self.leaseGone(client, task.id))
        #expect(daemon.rootEntries.isEmpty)
        #expect(sysfsDevices(of: [task.id.rawValue]).isEmpty)
        daemon.stop()
    }

    @Test func oneTaskCannotOpenAnothersDevicesEvenWithMknod() async throws {
        try requireVM()
        _ = try await DockerTestImage.ensure()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let victim = try await client.runTask(definition: Self.definition(family: "victim", root: daemon.root, command: "sleep 120"))
        let theirs = try #require(victim.lease?.devices.first { $0.role == .keyboard }?.nodes.first)
        let attacker = try await client.runTask(definition: Self.definition(
            family: "attacker", root: daemon.root,
            command: "busybox mknod /tmp/theirs c \(theirs.major) \(theirs.minor); head -c 24 /tmp/theirs > /dev/null 2> /data/error; echo $? > /data/status; sleep 120"))
        let directory = daemon.root + "/" + attacker.id.rawValue
        try await Self.waitFor("the attacker's attempt") { FileManager.default.fileExists(atPath: directory + "/status") }
        try await Task.sleep(for: .milliseconds(200))
        #expect(try String(contentsOfFile: directory + "/status", encoding: .utf8) != "0\n")
        #expect(try String(contentsOfFile: directory + "/error", encoding: .utf8).contains("Operation not permitted"))
        _ = try await client.stopTask(victim.id.rawValue)
        _ = try await client.stopTask(attacker.id.rawValue)
        daemon.stop()
    }

    @Test func aContainerThatExitsReleasesItsLeaseAtOnce() async throws {
        try requireVM()
        _ = try await DockerTestImage.ensure()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let docker = DockerClient()
        defer { Task { try? await docker.shutdown() } }
        let task = try await client.runTask(definition: Self.definition(family: "brief", root: daemon.root, command: "sleep 2"))
        let container = try #require(task.containers.first).id
        try await Self.waitFor("the container to exit") {
            guard let inspection = try await docker.inspectContainer(container) else { return true }
            return !inspection.State.Running
        }
        let exited = ContinuousClock.now
        try await Self.waitFor("the lease to be released", timeout: .seconds(10), daemon: daemon) { await Self.leaseGone(client, task.id) }
        let took = ContinuousClock.now - exited
        #expect(took < .seconds(1), "released \(took) after the container exited")
        print("task lease released \(took) after its container exited")
        #expect(daemon.rootEntries.isEmpty)
        #expect(sysfsDevices(of: [task.id.rawValue]).isEmpty)
        #expect(try await client.tasks().isEmpty)
        daemon.stop()
    }

    @Test func aRestartedDaemonFindsItsTaskAndReleasesItWhenItEnds() async throws {
        try requireVM()
        _ = try await DockerTestImage.ensure()
        let daemon = try DaemonProcess()
        let first = daemon.client()
        let task = try await first.runTask(definition: Self.definition(family: "survivor", root: daemon.root, command: "sleep 6"))
        await first.shutdown()
        daemon.stop(signal: SIGKILL)
        try daemon.start()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let found = try await client.task(task.id.rawValue)
        #expect(found.containers.map(\.id) == task.containers.map(\.id))
        #expect(found.lease?.state == .devicesLost)
        try await Self.waitFor("the task to end and its lease to go", timeout: .seconds(60), daemon: daemon) { await Self.leaseGone(client, task.id) }
        #expect(daemon.rootEntries.isEmpty)
        #expect(try await client.tasks().isEmpty)
        daemon.stop()
    }

    @Test func badTasksAreRefusedByFieldAndLeaveNothing() async throws {
        try requireVM()
        _ = try await DockerTestImage.ensure()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        func refusal(_ json: String) async -> (Int?, String) {
            do {
                _ = try await client.runTask(definition: Data(json.utf8))
                return (201, "")
            } catch let error as FractalClientError {
                if case .api(let status, let message) = error { return (status, message) }
                return (nil, "\(error)")
            } catch {
                return (nil, "\(error)")
            }
        }
        let image = DockerTestImage.reference
        let root = daemon.root
        var (status, message) = await refusal("{\"family\": \"x\",\n  \"containerDefinitions\": [}")
        #expect(status == 400)
        #expect(message.contains("line 2"), "\(message)")
        (status, message) = await refusal(#"{"family":"x","containerDefinitions":[{"name":"a","image":"\#(image)","mountPoints":[{"sourceVolume":"nope","containerPath":"/d"}]}]}"#)
        #expect(status == 400)
        #expect(message.contains("mountPoints[0].sourceVolume"), "\(message)")
        (status, message) = await refusal(#"{"family":"x","volumes":[{"name":"v","host":{"sourcePath":"/etc/%%FRACTAL_ID_PLACEHOLDER%%"}}],"containerDefinitions":[{"name":"a","image":"\#(image)","mountPoints":[{"sourceVolume":"v","containerPath":"/d"}]}]}"#)
        #expect(status == 400)
        #expect(message.contains("/etc/"), "\(message)")
        (status, message) = await refusal(#"{"family":"x","volumes":[{"name":"v","dockerVolumeConfiguration":{"driverOpts":{"device":"\#(root)/%%FRACTAL_ID_PLACEHOLDER%%"}}}],"containerDefinitions":[{"name":"a","image":"\#(image)"}]}"#)
        #expect(status == 400)
        #expect(message.contains("volumes[0]") || message.contains("'v'"), "\(message)")
        (status, message) = await refusal(#"{"family":"x","containerDefinitions":[{"name":"a","image":"fractal-test/absent:1"}]}"#)
        #expect(status == 404)
        #expect(message.contains("fractal-test/absent:1"), "\(message)")

        #expect(try await client.leases().isEmpty)
        #expect(try await client.tasks().isEmpty)
        #expect(daemon.rootEntries.isEmpty)
        let docker = DockerClient()
        let leftovers: [ContainerSummary] = try await docker.listContainers(.label(ContainerLabel.id), all: true)
        try? await docker.shutdown()
        let ours = leftovers.filter { summary in summary.Labels?[ContainerLabel.task] == "x" }
        #expect(ours.isEmpty)
        daemon.stop()
    }

    @Test func dockerNotReachableIsAClearServiceUnavailable() async throws {
        try requireVM()
        let daemon = try DaemonProcess(extraArguments: ["--docker-socket", "/run/no-docker-here.sock"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        do {
            _ = try await client.runTask(definition: Self.definition(family: "nodocker", root: daemon.root, command: "true"))
            Issue.record("a task ran without Docker")
        } catch let error as FractalClientError {
            #expect(error.status == 503)
            #expect("\(error)".contains("/run/no-docker-here.sock"))
        }
        #expect(try await client.leases().isEmpty)
        #expect(daemon.rootEntries.isEmpty)
        daemon.stop()
    }
}
