import Agent
import DeviceManager
import Foundation
import Testing

/// The Docker client against the real dockerd in the VM (`--bridge=none`, no registry).
@Suite(.serialized) struct DockerEngineVMTests {
    /// A one-container task: busybox writing what it sees to a per-session directory.
    static func taskJSON(command: [String], root: String) -> String {
        let commandJSON = "[" + command.map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ", ") + "]"
        return """
        {
          "family": "fractal-vm-test",
          "containerDefinitions": [{
            "name": "probe",
            "image": "\(DockerTestImage.reference)",
            "command": \(commandJSON),
            "environment": [{"name": "GREETING", "value": "hello"}],
            "memory": 64,
            "mountPoints": [
              {"sourceVolume": "out", "containerPath": "/out"},
              {"sourceVolume": "scratch", "containerPath": "/scratch"}
            ],
            "linuxParameters": {"tmpfs": [{"containerPath": "/run", "size": 8}]},
            "dockerLabels": {"fractal.devices": "keyboard"}
          }],
          "volumes": [
            {"name": "out", "host": {"sourcePath": "\(root)/%%FRACTAL_ID_PLACEHOLDER%%/out"}},
            {"name": "scratch"}
          ]
        }
        """
    }

    @Test func negotiatesTheAPIVersion() async throws {
        try requireDockerVM()
        let client = DockerClient()
        defer { Task { try? await client.shutdown() } }
        let reported = try #require(try await client.ping())
        #expect(reported >= DockerAPIVersion.minimumSupported)
        let using = try await client.apiVersion()
        #expect(using == min(reported, DockerAPIVersion.maximumSupported))
        let version = try await client.version()
        #expect(DockerAPIVersion(version.ApiVersion) == reported)
        #expect(!version.Version.isEmpty)

        let capped = DockerClient(maximumAPIVersion: DockerAPIVersion.minimumSupported)
        defer { Task { try? await capped.shutdown() } }
        #expect(try await capped.apiVersion() == DockerAPIVersion.minimumSupported)
        _ = try await capped.listContainers()
    }

    @Test func runsAContainerAndSeesItDieAndGo() async throws {
        try requireDockerVM()
        let image = try await DockerTestImage.ensure()
        let client = DockerClient()
        let id = FractalID.random()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fractal-docker-vm-\(id)").path
        defer {
            try? FileManager.default.removeItem(atPath: root)
            Task { try? await client.shutdown() }
        }

        let plan = try TaskPlan(
            json: Self.taskJSON(
                command: ["sh", "-c", "od -An -tx1 -N4 /dev/fractal-zero > /out/zero; echo $FRACTAL_ID $GREETING > /out/env; ls /dev > /out/dev; echo kept > /scratch/file; exit 3"],
                root: root),
            id: id, policy: TaskPolicy(allowedRoots: [root]))
        #expect(plan.deviceRoles == [.keyboard])
        // The directory provisioner's job in the daemon; here, just make it.
        let directory = try #require(plan.directories.first)
        #expect(directory.hostPath == "\(root)/\(id)/out")
        try FileManager.default.createDirectory(atPath: directory.hostPath, withIntermediateDirectories: true)
        for volume in plan.dockerVolumes { try await client.createVolume(volume) }

        // /dev/zero stands in for a leased input node: any character device shows the mapping is exact.
        let creation = try plan.containerCreation(at: 0, grant: ContainerGrant(id: plan.id, nodes: [ContainerGrant.Node(hostPath: "/dev/zero", containerPath: "/dev/fractal-zero", major: 1, minor: 5)]))
        #expect(creation.request.Image == image)

        let events = try await client.events(DockerFilters(["type": ["container"], "event": ["die", "destroy"], "label": ["fractal.id=\(id)"]]))
        let created = try await client.createContainer(creation)
        let inspected = try #require(try await client.inspectContainer(created.Id))
        #expect(inspected.Name == "/fractal-\(id)-probe")
        #expect(inspected.HostConfig.Devices == [.init(PathOnHost: "/dev/zero", PathInContainer: "/dev/fractal-zero", CgroupPermissions: "rwm")])
        #expect(inspected.HostConfig.NetworkMode == "none")
        #expect(inspected.Config.Labels?["fractal.id"] == id.rawValue)
        #expect(inspected.Config.Labels?["fractal.task"] == "fractal-vm-test")

        try await client.startContainer(created.Id)
        let died = try await nextDockerEvent(in: events, within: 120, "die event") { $0.action == "die" }
        #expect(died.containerID == created.Id)
        #expect(died.exitCode == 3)
        #expect(died.labels["fractal.container"] == "probe")

        let output = { (name: String) in try String(contentsOfFile: "\(directory.hostPath)/\(name)", encoding: .utf8) }
        #expect(try output("zero").contains("00 00 00 00"))
        #expect(try output("env") == "\(id) hello\n")
        // Only the granted node (and Docker's standard ones) in /dev: no input devices.
        let devices = try output("dev").split(separator: "\n").map(String.init)
        #expect(devices.contains("fractal-zero"))
        #expect(!devices.contains("input") && !devices.contains("uinput"))

        let stopped = try #require(try await client.inspectContainer(created.Id))
        #expect(!stopped.State.Running && stopped.State.ExitCode == 3)

        try await client.removeContainer(created.Id)
        let destroyed = try await nextDockerEvent(in: events, within: 60, "destroy event") { $0.action == "destroy" }
        #expect(destroyed.containerID == created.Id)
        #expect(try await client.inspectContainer(created.Id) == nil)
        for volume in plan.dockerVolumes { try await client.removeVolume(volume.dockerName) }
    }

    @Test func stopEndsALongRunningContainer() async throws {
        try requireDockerVM()
        _ = try await DockerTestImage.ensure()
        let client = DockerClient()
        defer { Task { try? await client.shutdown() } }
        let id = FractalID.random()
        var definition = ContainerDefinition(name: "sleeper", image: DockerTestImage.reference)
        definition.command = ["sleep", "600"]
        definition.dockerLabels = ["fractal.devices": "none"]
        let plan = try TaskPlan(definition: TaskDefinition(family: "fractal-vm-sleep", containerDefinitions: [definition]), id: id, policy: TaskPolicy())
        let created = try await client.createContainer(try plan.containerCreation(at: 0, grant: ContainerGrant(id: plan.id, nodes: [])))
        try await client.startContainer(created.Id)
        #expect(try await client.inspectContainer(created.Id)?.State.Running == true)

        async let waited = withDockerDeadline(120, "wait for the stopped container") { try await client.waitContainer(created.Id) }
        try await client.stopContainer(created.Id, timeout: 1)
        let status = try await waited
        // sleep ignores nothing: SIGTERM ends it (143), or SIGKILL after the timeout (137).
        #expect(status == 143 || status == 137)
        try await client.removeContainer(created.Id)
    }

    @Test func listsContainersByLabel() async throws {
        try requireDockerVM()
        _ = try await DockerTestImage.ensure()
        let client = DockerClient()
        defer { Task { try? await client.shutdown() } }
        var made: [(FractalID, String)] = []
        for _ in 0..<2 {
            let id = FractalID.random()
            var definition = ContainerDefinition(name: "idle", image: DockerTestImage.reference)
            definition.command = ["true"]
            let plan = try TaskPlan(definition: TaskDefinition(family: "fractal-vm-list", containerDefinitions: [definition]), id: id, policy: TaskPolicy())
            made.append((id, try await client.createContainer(try plan.containerCreation(at: 0, grant: ContainerGrant(id: plan.id, nodes: []))).Id))
        }
        let all = try await client.listContainers()
        #expect(Set(made.map(\.1)).isSubset(of: Set(all.map(\.Id))))
        let one = try await client.listContainers(.label("fractal.id=\(made[0].0)"))
        #expect(one.map(\.Id) == [made[0].1])
        #expect(one.first?.Labels?["fractal.container"] == "idle")
        #expect(one.first?.State == "created")
        for (_, container) in made { try await client.removeContainer(container) }
        #expect(try await client.listContainers(.label("fractal.id=\(made[0].0)")).isEmpty)
    }

    @Test func pullingAMissingImageFailsClearly() async throws {
        try requireDockerVM()
        let client = DockerClient()
        defer { Task { try? await client.shutdown() } }
        let reference = "fractal-test/not-here:\(FractalID.random())"
        #expect(try await client.inspectImage(reference) == nil)
        let error = await #expect(throws: DockerError.self) { try await client.ensureImage(reference) }
        guard case .imageUnavailable(let image, _)? = error else {
            Issue.record("expected imageUnavailable, got \(String(describing: error))")
            return
        }
        #expect(image == reference)
        let text = error?.description ?? ""
        #expect(text.contains("is not present locally and could not be pulled"))
        #expect(text.contains("docker load"))
    }

    @Test func unreachableSocketSaysSo() async throws {
        try requireDockerVM()
        let missing = "/run/fractal-no-such-docker.sock"
        let client = DockerClient(socketPath: missing)
        await #expect(throws: DockerError.unreachable(socketPath: missing, reason: "No such file or directory")) {
            try await client.ping()
        }
        try await client.shutdown()

        // A path that exists but where nothing listens.
        let notASocket = FileManager.default.temporaryDirectory.appendingPathComponent("fractal-not-a-socket-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: notASocket, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: notASocket) }
        let refused = DockerClient(socketPath: notASocket)
        let error = await #expect(throws: DockerError.self) {
            try await DockerClient.retryingConnect(attempts: 3, initialDelay: .milliseconds(10)) { () async throws(DockerError) in
                try await refused.ping()
            }
        }
        #expect(error?.isUnreachable == true)
        #expect(error?.description.contains("Connection refused") == true)
        try await refused.shutdown()
    }
}
