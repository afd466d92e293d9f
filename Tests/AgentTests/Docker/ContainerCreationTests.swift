@testable import Agent
import DeviceManager
import Foundation
import Testing

@Suite struct ContainerCreationTests {
    let id = try! FractalID("session-42")

    let leased = [
        ContainerGrant.Node(hostPath: "/dev/input/event7", major: 13, minor: 71),
        ContainerGrant.Node(hostPath: "/dev/input/mouse2", major: 13, minor: 34),
        ContainerGrant.Node(LeasedNode(kind: "joystick", path: "/dev/input/js0", major: 13, minor: 0)),
    ]

    func fractalCreation() throws -> ContainerCreation {
        let plan = try TaskPlan(json: Fixtures.fractal, id: id, policy: Fixtures.policy)
        return try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: leased))
    }

    @Test func nameIsSessionAndContainer() throws {
        #expect(try fractalCreation().name == "fractal-session-42-fractal-container")
        #expect(DockerName.container(id: "abc", container: "web app/1") == "fractal-abc-web-app-1")
        #expect(DockerName.make(["_x"]) == "x_x")
    }

    @Test func devicesAreExactlyTheGrantedNodes() throws {
        let request = try fractalCreation().request
        #expect(request.HostConfig.Devices == [
            .init(PathOnHost: "/dev/input/event7", PathInContainer: "/dev/input/event7", CgroupPermissions: "rwm"),
            .init(PathOnHost: "/dev/input/mouse2", PathInContainer: "/dev/input/mouse2", CgroupPermissions: "rwm"),
            .init(PathOnHost: "/dev/input/js0", PathInContainer: "/dev/input/js0", CgroupPermissions: "rwm"),
        ])
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        #expect(!json.contains("DeviceCgroupRules"))
        #expect(!json.contains("*"))
        #expect(json.contains("\"PathOnHost\""))
    }

    @Test func noDevicesMeansNoDevicesField() throws {
        let plan = try TaskPlan(json: Fixtures.fractal, id: id, policy: Fixtures.policy)
        let request = try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [])).request
        #expect(request.HostConfig.Devices == nil)
    }

    @Test func bindsUseProvisionedPathsReadOnlyAndPropagation() throws {
        let request = try fractalCreation().request
        #expect(request.HostConfig.Binds == [
            "/fractal/session-42/containerResourceMappings:/fractal/resourceMappings:ro",
            "/fractal/session-42/userConfigs:/fractal/userConfigs:rshared",
            "/fractal/temp/session-42/sockets:/tmp/sockets",
            "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        ])
    }

    @Test func bindSourcesAreThePlansNormalisedPaths() throws {
        // The plan substitutes once; the lease makes these paths and the container binds the same.
        let plan = try TaskPlan(json: Fixtures.fractal, id: id, policy: Fixtures.policy)
        #expect(plan.bindSources == [
            "cgroup": "/sys/fs/cgroup",
            "containerResourceMappings": "/fractal/session-42/containerResourceMappings",
            "userConfigs": "/fractal/session-42/userConfigs",
            "sockets": "/fractal/temp/session-42/sockets",
        ])
        #expect(plan.directories.map(\.hostPath) == plan.directories.map { plan.bindSources[$0.volumeName] })
    }

    @Test func unitsBecomeBytes() throws {
        let host = try fractalCreation().request.HostConfig
        #expect(host.Memory == Int64(6144 * 1024 * 1024))
        #expect(host.ShmSize == Int64(2048 * 1024 * 1024))
        #expect(host.Tmpfs == ["/run": "size=50m", "/run/lock": "size=50m,noexec,nosuid"])
        // cpu 0: Docker's default weight, not ECS's 2 shares.
        #expect(host.CpuShares == nil)
        #expect(host.NanoCpus == nil)
        #expect(host.CapDrop == ["ALL"])
        #expect(host.CapAdd?.contains("SYS_NICE") == true)
        #expect(host.Init == true)
        #expect(host.AutoRemove == false)
        #expect(host.NetworkMode == "none")
    }

    @Test func cpuMemoryAndUlimitsOfAContainer() throws {
        let plan = try TaskPlan(json: Fixtures.register, id: id, policy: Fixtures.policy)
        let web = try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [])).request
        #expect(web.HostConfig.CpuShares == 512)
        #expect(web.HostConfig.Memory == Int64(512 * 1_048_576))
        #expect(web.HostConfig.MemoryReservation == Int64(256 * 1_048_576))
        #expect(web.HostConfig.Ulimits == [.init(Name: "nofile", Soft: 1024, Hard: 4096)])
        #expect(web.HostConfig.NetworkMode == "host")
        // Host mode shares the host's ports: nothing to publish.
        #expect(web.HostConfig.PortBindings == nil)
        #expect(web.HostConfig.Binds == ["/srv/www:/usr/share/nginx/html:ro"])
        #expect(web.Cmd == ["nginx", "-g", "daemon off;"])

        let cache = try plan.containerCreation(at: 1, grant: ContainerGrant(id: id, nodes: [])).request
        #expect(cache.HostConfig.Binds == ["fractal-session-42-scratch:/data"])
        #expect(cache.HostConfig.CpuShares == nil && cache.HostConfig.Memory == nil)
    }

    @Test func taskLevelLimitsApplyToASingleContainer() throws {
        let plan = try TaskPlan(json: Fixtures.minimal(task: #" "cpu": "0.5 vCPU", "memory": "1 GB","#), id: id, policy: Fixtures.policy)
        let host = try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [])).request.HostConfig
        #expect(host.NanoCpus == 500_000_000)
        #expect(host.Memory == Int64(1024 * 1_048_576))
    }

    @Test func environmentAndLabelsCarryTheSession() throws {
        let request = try fractalCreation().request
        #expect(request.Env == ["NVIDIA_DRIVER_CAPABILITIES=all", "SENTRY_ENV=production", "FRACTAL_ID=session-42"])
        #expect(request.Labels == [
            "fractal.id": "session-42", "fractal.task": "fractal-chrome", "fractal.container": "fractal-container",
            "fractal.devices": "keyboard,mouse,tablet,gamepad",
        ])
        #expect(request.Image == "ghcr.io/example/fractal-chrome:latest")
        #expect(request.Cmd == nil && request.Entrypoint == nil)
    }

    @Test func taskDevicesAreMappedWithTheirPermissions() throws {
        let plan = try TaskPlan(
            json: Fixtures.minimal(container: #""linuxParameters": {"devices": [{"hostPath": "/dev/dri/renderD128", "containerPath": "/dev/dri/renderD128", "permissions": ["read", "write"]}]}"#),
            id: id, policy: Fixtures.policy)
        let request = try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [leased[0]])).request
        #expect(request.HostConfig.Devices == [
            .init(PathOnHost: "/dev/input/event7", PathInContainer: "/dev/input/event7", CgroupPermissions: "rwm"),
            .init(PathOnHost: "/dev/dri/renderD128", PathInContainer: "/dev/dri/renderD128", CgroupPermissions: "rw"),
        ])
    }

    @Test func grantedDevicesMustBeNodesUnderDev() throws {
        let plan = try TaskPlan(json: Fixtures.minimal(), id: id, policy: Fixtures.policy)
        #expect(throws: ContainerCreationError.invalidDevice(path: "/dev/input/event*", reason: "is a pattern; grant each node by its path")) {
            try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [ContainerGrant.Node(hostPath: "/dev/input/event*", major: 13, minor: 64)]))
        }
        #expect(throws: ContainerCreationError.invalidDevice(path: "/tmp/x", reason: "is not a path under /dev")) {
            try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [ContainerGrant.Node(hostPath: "/tmp/x", major: 1, minor: 3)]))
        }
        #expect(throws: ContainerCreationError.noSuchContainer(index: 3, count: 1)) {
            try plan.containerCreation(at: 3, grant: ContainerGrant(id: id, nodes: []))
        }
    }

    @Test func bridgePublishesPorts() throws {
        let plan = try TaskPlan(
            json: Fixtures.minimal(
                container: #""portMappings": [{"containerPort": 32262, "hostPort": 0, "protocol": "tcp"}, {"containerPort": 32263, "protocol": "udp"}, {"containerPort": 8080, "hostPort": 18080}]"#,
                task: #" "networkMode": "bridge","#),
            id: id, policy: Fixtures.policy)
        let request = try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [])).request
        #expect(request.HostConfig.NetworkMode == "bridge")
        #expect(request.ExposedPorts?.keys.sorted() == ["32262/tcp", "32263/udp", "8080/tcp"])
        #expect(request.HostConfig.PortBindings == [
            "32262/tcp": [.init(HostPort: "")], "32263/udp": [.init(HostPort: "")], "8080/tcp": [.init(HostPort: "18080")],
        ])
    }

    @Test func otherContainerSettingsAreMapped() throws {
        let container = #"""
        "user": "1000:1000", "workingDirectory": "/home/app", "hostname": "game", "readonlyRootFilesystem": true,
        "stopTimeout": 20, "interactive": true, "pseudoTerminal": true, "entryPoint": ["/init"],
        "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10},
        "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.2"}], "dnsServers": ["1.1.1.1"],
        "systemControls": [{"namespace": "net.ipv4.ping_group_range", "value": "0 1000"}],
        "dockerSecurityOptions": ["no-new-privileges"],
        "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}}
        """#
        let plan = try TaskPlan(json: Fixtures.minimal(container: container), id: id, policy: Fixtures.policy)
        let request = try plan.containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [])).request
        #expect(request.User == "1000:1000" && request.WorkingDir == "/home/app" && request.Hostname == "game")
        #expect(request.HostConfig.ReadonlyRootfs == true && request.StopTimeout == 20)
        #expect(request.OpenStdin == true && request.Tty == true && request.Entrypoint == ["/init"])
        #expect(request.Healthcheck == .init(Test: ["CMD-SHELL", "true"], Interval: 10_000_000_000, Timeout: 5_000_000_000, Retries: 3))
        #expect(request.HostConfig.ExtraHosts == ["db:10.0.0.2"] && request.HostConfig.Dns == ["1.1.1.1"])
        #expect(request.HostConfig.Sysctls == ["net.ipv4.ping_group_range": "0 1000"])
        #expect(request.HostConfig.SecurityOpt == ["no-new-privileges"])
        #expect(request.HostConfig.LogConfig == .init(Type: "json-file", Config: ["max-size": "10m"]))
    }

    @Test func encodesDockersFieldNames() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let object = try JSONSerialization.jsonObject(with: encoder.encode(fractalCreation().request)) as? [String: Any]
        let keys = Set(object?.keys.map { $0 } ?? [])
        #expect(keys == ["Image", "Env", "Labels", "HostConfig"])
        let host = try #require(object?["HostConfig"] as? [String: Any])
        #expect(Set(host.keys) == [
            "Binds", "Devices", "CapAdd", "CapDrop", "Init", "ShmSize", "Tmpfs", "Memory", "NetworkMode", "AutoRemove",
        ])
        #expect(host["AutoRemove"] as? Bool == false)
        let device = try #require((host["Devices"] as? [[String: Any]])?.first)
        #expect(Set(device.keys) == ["PathOnHost", "PathInContainer", "CgroupPermissions"])
    }
}
