@testable import Agent
import DeviceManager
import Testing

@Suite struct TaskPlanTests {
    let id = try! FractalID("session-42")

    @Test func fractalTaskPlansItsDirectoriesAndDevices() throws {
        let plan = try TaskPlan(json: Fixtures.fractal, id: id, policy: Fixtures.policy)
        #expect(plan.family == "fractal-chrome")
        #expect(plan.id == id)
        #expect(plan.networkMode == .none)
        #expect(plan.directories == [
            PlannedDirectory(
                volumeName: "containerResourceMappings", template: "/fractal/%%FRACTAL_ID_PLACEHOLDER%%/containerResourceMappings",
                hostPath: "/fractal/session-42/containerResourceMappings"),
            PlannedDirectory(
                volumeName: "userConfigs", template: "/fractal/%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%/userConfigs",
                hostPath: "/fractal/session-42/userConfigs"),
            PlannedDirectory(
                volumeName: "sockets", template: "/fractal/temp/%%FRACTAL_ID_PLACEHOLDER%%/sockets",
                hostPath: "/fractal/temp/session-42/sockets"),
        ])
        // A plain host path is a bind, not a directory to make.
        #expect(!plan.directories.contains { $0.volumeName == "cgroup" })
        #expect(plan.dockerVolumes.isEmpty)
        #expect(plan.deviceRoles == [.keyboard, .mouse, .tablet, .gamepad])
        #expect(plan.containerDeviceRoles == [[.keyboard, .mouse, .tablet, .gamepad]])
        #expect(plan.directories[0].request.template == plan.directories[0].template)
    }

    @Test func devicesDefaultToKeyboardMouseTabletAndUnite() throws {
        let plan = try TaskPlan(json: Fixtures.register, id: id, policy: Fixtures.policy)
        // "web" says none; "cache" has no label and gets the default.
        #expect(plan.containerDeviceRoles == [[], [.keyboard, .mouse, .tablet]])
        #expect(plan.deviceRoles == [.keyboard, .mouse, .tablet])
    }

    @Test func deviceRolesUniteInFirstAskedOrder() throws {
        let json = """
        {"family": "f", "containerDefinitions": [
          {"name": "a", "image": "i", "dockerLabels": {"fractal.devices": "gamepad, keyboard"}},
          {"name": "b", "image": "i", "dockerLabels": {"fractal.devices": "keyboard,touchscreen"}}
        ]}
        """
        let plan = try TaskPlan(json: json, id: id, policy: Fixtures.policy)
        #expect(plan.deviceRoles == [.gamepad, .keyboard, .touchscreen])
    }

    @Test func dockerManagedVolumesAreNamedForTheSession() throws {
        let json = Fixtures.minimal(volumes: """
        [{"name": "scratch"},
         {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local", "driverOpts": {"type": "tmpfs"}, "labels": {"k": "v"}}},
         {"name": "models", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true}},
         {"name": "fixed", "dockerVolumeConfiguration": {"scope": "shared"}}]
        """)
        var policy = Fixtures.policy
        policy.allowsDockerVolumeOptions = true
        let plan = try TaskPlan(json: json, id: id, policy: policy)
        #expect(plan.dockerVolumes.map(\.dockerName) == ["fractal-session-42-scratch", "fractal-session-42-cache", "models", "fixed"])
        #expect(plan.dockerVolumes.map(\.scope) == [.task, .task, .shared, .shared])
        #expect(plan.dockerVolumes.map(\.mayCreate) == [true, true, true, false])
        #expect(plan.dockerVolumes[1].driverOptions == ["type": "tmpfs"])
        #expect(plan.dockerVolumes[1].labels == ["k": "v", "fractal.id": "session-42"])
        #expect(plan.dockerVolumes[2].labels == [:])
    }

    @Test func planValidatesDefinitionsBuiltInCode() throws {
        var container = ContainerDefinition(name: "app", image: "busybox")
        container.mountPoints = [MountPoint(sourceVolume: "nowhere", containerPath: "/x")]
        let definition = TaskDefinition(family: "f", containerDefinitions: [container])
        #expect(throws: TaskDefinitionError.invalid(path: "containerDefinitions[0].mountPoints[0].sourceVolume", reason: "names no volume 'nowhere'")) {
            try TaskPlan(definition: definition, id: id, policy: Fixtures.policy)
        }
    }
}
