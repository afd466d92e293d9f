import Agent
import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// Hostile task definitions against a real daemon, dockerd and kernel: each is refused with
/// 400 naming the field, and nothing is made (no lease, no directory, no container); what the
/// operator allowed still runs, exactly as allowed.
@Suite(.serialized) struct TaskPolicyVMTests {
    /// A one-container task of family `hostile` on the busybox image; `container`, `volumes`,
    /// `task` and `labels` are spliced in as JSON.
    static func definition(
        container: String = "", volumes: String = "[]", task: String = "", labels: String = #""fractal.devices": "none""#
    ) -> String {
        """
        {"family": "hostile",\(task)
         "containerDefinitions": [{"name": "app", "image": "\(DockerTestImage.reference)", "command": ["sleep", "60"],
                                   "dockerLabels": {\(labels)}\(container.isEmpty ? "" : ", " + container)}],
         "volumes": \(volumes)}
        """
    }

    static func bind(_ sourcePath: String) -> String {
        definition(
            container: #""mountPoints": [{"sourceVolume": "v", "containerPath": "/host"}]"#,
            volumes: #"[{"name": "v", "host": {"sourcePath": "\#(sourcePath)"}}]"#)
    }

    static func device(_ hostPath: String) -> String {
        definition(container: #""linuxParameters": {"devices": [{"hostPath": "\#(hostPath)"}]}"#)
    }

    @Test func hostileDefinitionsAreRefusedByFieldAndLeaveNothingWhileAllowedOnesRun() async throws {
        try requireDockerVM()
        _ = try await DockerTestImage.ensure()
        // A directory the operator lets tasks bind, holding a link a session could have planted.
        let shared = "/tmp/fractal-policy-shared-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: shared + "/assets", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: shared + "/escape", withDestinationPath: "/")
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let daemon = try DaemonProcess(extraArguments: [
            "--allow-host-path", shared, "--allow-capability", "SYS_NICE", "--allow-device", "/dev/zero",
        ])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let docker = DockerClient()
        defer { Task { try? await docker.shutdown() } }

        let cases: [(String, String, String)] = [
            ("bind /", Self.bind("/"), "volumes[0].host.sourcePath"),
            ("bind the Docker socket", Self.bind("/var/run/docker.sock"), "volumes[0].host.sourcePath"),
            ("bind the daemon's socket directory", Self.bind((daemon.socketPath as NSString).deletingLastPathComponent), "volumes[0].host.sourcePath"),
            ("bind a link out of an allowed path", Self.bind(shared + "/escape/etc"), "volumes[0].host.sourcePath"),
            ("bind every session's directory", Self.bind(daemon.root), "volumes[0].host.sourcePath"),
            ("a placeholder outside the roots", Self.bind("/etc/%%FRACTAL_ID_PLACEHOLDER%%"), "volumes[0].host.sourcePath"),
            ("driverOpts binding /", Self.definition(
                volumes: #"[{"name": "v", "dockerVolumeConfiguration": {"driver": "local", "driverOpts": {"type": "none", "o": "bind", "device": "/"}}}]"#),
             "volumes[0].dockerVolumeConfiguration.driverOpts"),
            ("another task's shared volume", Self.definition(volumes: #"[{"name": "v", "dockerVolumeConfiguration": {"scope": "shared"}}]"#),
             "volumes[0].dockerVolumeConfiguration.scope"),
            ("CAP_SYS_ADMIN", Self.definition(container: #""linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}"#),
             "containerDefinitions[0].linuxParameters.capabilities.add[0]"),
            ("ALL capabilities", Self.definition(container: #""linuxParameters": {"capabilities": {"add": ["NET_RAW", "ALL"]}}"#),
             "containerDefinitions[0].linuxParameters.capabilities.add[1]"),
            ("seccomp=unconfined", Self.definition(container: #""dockerSecurityOptions": ["seccomp=unconfined"]"#),
             "containerDefinitions[0].dockerSecurityOptions[0]"),
            ("apparmor=unconfined", Self.definition(container: #""dockerSecurityOptions": ["no-new-privileges", "apparmor=unconfined"]"#),
             "containerDefinitions[0].dockerSecurityOptions[1]"),
            ("pidMode host", Self.definition(task: #" "pidMode": "host","#), "pidMode"),
            ("ipcMode host", Self.definition(task: #" "ipcMode": "host","#), "ipcMode"),
            ("host network with a hot-plug slot", Self.definition(
                task: #" "networkMode": "host","#, labels: #""fractal.devices": "none", "fractal.hotplug": "gamepad""#),
             "networkMode"),
            ("a host sysctl", Self.definition(container: #""systemControls": [{"namespace": "kernel.core_pattern", "value": "|/tmp/x"}]"#),
             "containerDefinitions[0].systemControls[0].namespace"),
            ("rtprio", Self.definition(container: #""ulimits": [{"name": "rtprio", "softLimit": 99, "hardLimit": 99}]"#),
             "containerDefinitions[0].ulimits[0].name"),
            ("/dev//input/event0", Self.device("/dev//input/event0"), "containerDefinitions[0].linuxParameters.devices[0].hostPath"),
            ("//dev/input", Self.device("//dev/input"), "containerDefinitions[0].linuxParameters.devices[0].hostPath"),
            ("/dev/./uinput", Self.device("/dev/./uinput"), "containerDefinitions[0].linuxParameters.devices[0].hostPath"),
            ("/dev/../dev/input", Self.device("/dev/../dev/input"), "containerDefinitions[0].linuxParameters.devices[0].hostPath"),
            ("/dev/input/../uinput", Self.device("/dev/input/../uinput"), "containerDefinitions[0].linuxParameters.devices[0].hostPath"),
            ("/dev/tty1", Self.device("/dev/tty1"), "containerDefinitions[0].linuxParameters.devices[0].hostPath"),
            ("a disk", Self.device("/dev/vda"), "containerDefinitions[0].linuxParameters.devices[0].hostPath"),
            ("logs sent to the daemon's socket", Self.definition(
                container: #""logConfiguration": {"logDriver": "syslog", "options": {"syslog-address": "unix:///run/fractal-agent/agent.sock"}}"#),
             "containerDefinitions[0].logConfiguration.options.syslog-address"),
        ]
        for (name, json, field) in cases {
            do {
                let task = try await client.runTask(definition: Data(json.utf8))
                Issue.record("\(name): ran as task \(task.id)")
                _ = try? await client.stopTask(task.id.rawValue)
            } catch let error as FractalClientError {
                guard case .api(let status, let message) = error else {
                    Issue.record("\(name): \(error)")
                    continue
                }
                #expect(status == 400, "\(name): \(message)")
                #expect(message.contains(field), "\(name): \(message)")
            }
        }

        // Nothing of any of them: no lease, no task, no directory, no container, no volume.
        #expect(try await client.leases().isEmpty)
        #expect(try await client.tasks().isEmpty)
        #expect(daemon.rootEntries.isEmpty)
        let containers = try await docker.listContainers(.label(ContainerLabel.id), all: true)
        let ours = containers.filter { summary in summary.Labels?[ContainerLabel.task] == "hostile" }
        #expect(ours.isEmpty)

        // What the operator allowed runs, with exactly that.
        let allowed = Self.definition(
            container: #"""
            "mountPoints": [{"sourceVolume": "assets", "containerPath": "/assets", "readOnly": true}, {"sourceVolume": "session", "containerPath": "/data"}],
            "linuxParameters": {"capabilities": {"drop": ["ALL"], "add": ["CHOWN", "SYS_NICE"]}, "devices": [{"hostPath": "/dev//zero", "permissions": ["read"]}]},
            "dockerSecurityOptions": ["no-new-privileges"],
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 65536}]
            """#,
            volumes: #"[{"name": "assets", "host": {"sourcePath": "\#(shared)/assets/"}}, {"name": "session", "host": {"sourcePath": "\#(daemon.root)/%%FRACTAL_ID_PLACEHOLDER%%"}}]"#)
        let task = try await client.runTask(definition: Data(allowed.utf8))
        let container = try #require(task.containers.first)
        let inspected = try #require(try await docker.inspectContainer(container.id))
        #expect(inspected.HostConfig.Devices == [.init(PathOnHost: "/dev/zero", PathInContainer: "/dev/zero", CgroupPermissions: "r")])
        #expect(inspected.HostConfig.Binds?.contains("\(shared)/assets:/assets:ro") == true, "\(inspected.HostConfig.Binds ?? [])")
        #expect(inspected.HostConfig.Binds?.contains("\(daemon.root)/\(task.id.rawValue):/data") == true, "\(inspected.HostConfig.Binds ?? [])")
        _ = try await client.stopTask(task.id.rawValue)
        #expect(try await client.leases().isEmpty)
        daemon.stop()
    }
}
