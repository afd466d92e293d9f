@testable import Agent
import DeviceManager
import Testing

/// Hot-plug slots, the input policy and the session's bind mounts, as a task asks for them.
@Suite struct SessionPlanTests {
    let id = try! FractalID("session-42")

    func plan(_ labels: String, _ second: String? = nil) throws -> TaskPlan {
        let containers = [#"{"name": "a", "image": "i", "dockerLabels": {\#(labels)}}"#]
            + (second.map { [#"{"name": "b", "image": "i", "dockerLabels": {\#($0)}}"#] } ?? [])
        return try TaskPlan(json: #"{"family": "f", "containerDefinitions": [\#(containers.joined(separator: ","))]}"#, id: id, policy: Fixtures.policy)
    }

    @Test func hotplugRolesAreSlotsBesideThePluggedDevices() throws {
        let plan = try plan(#""fractal.devices": "keyboard,mouse", "fractal.hotplug": "gamepad""#)
        #expect(plan.deviceRoles == [.keyboard, .mouse])
        #expect(plan.hotplugRoles == [.gamepad])
        #expect(plan.containerHotplugRoles == [[.gamepad]])
        #expect(plan.policy == .standard)
    }

    @Test func aRoleIsEitherPluggedOrASlot() {
        #expect(throws: TaskDefinitionError.self) {
            try plan(#""fractal.devices": "keyboard", "fractal.hotplug": "keyboard""#)
        }
        #expect(throws: TaskDefinitionError.self) { try plan(#""fractal.hotplug": "joystick""#) }
    }

    /// Game controllers repeat: each named is a device (the lease's gamepad, gamepad-2, ...),
    /// as many of a kind as the container that asks for the most; other roles may not repeat.
    @Test func gameControllersRepeatAndContainersShareThem() throws {
        let plan = try plan(#""fractal.devices": "keyboard,dualsense,dualsense", "fractal.hotplug": "gamepad""#,
                            #""fractal.devices": "dualsense,gamepad,dualsense,dualsense""#)
        #expect(plan.deviceRoles == [.keyboard, .dualsense, .dualsense, .gamepad, .dualsense])
        #expect(plan.hotplugRoles == [.gamepad])
        #expect(DeviceHandle.assign(plan.deviceRoles + plan.hotplugRoles).map(\.description)
            == ["keyboard", "dualsense", "dualsense-2", "gamepad", "dualsense-3", "gamepad-2"])
        #expect(throws: TaskDefinitionError.self) { try self.plan(#""fractal.devices": "mouse,mouse""#) }
        #expect(throws: TaskDefinitionError.self) {
            try self.plan(#""fractal.devices": "gamepad,gamepad,gamepad,gamepad,gamepad,switch-pro,switch-pro,dualsense,dualsense""#)
        }
    }

    @Test func thePolicyIsOnePerTask() throws {
        #expect(try plan(#""fractal.input-policy": "gamepad-only""#).policy == .gamepadOnly)
        #expect(try plan(#""fractal.input-policy": "trusted""#, #""fractal.input-policy": "trusted""#).policy == .trusted)
        #expect(throws: TaskDefinitionError.self) { try plan(#""fractal.input-policy": "lax""#) }
        #expect(throws: TaskDefinitionError.self) {
            try plan(#""fractal.input-policy": "trusted""#, #""fractal.input-policy": "default""#)
        }
    }

    @Test func theSessionDirectoryLabelIsAPlainContainerPath() {
        for bad in ["run/fractal", "/", "/run/../etc", "/run/a:b"] {
            #expect(throws: TaskDefinitionError.self) { try plan(#""fractal.session-dir": "\#(bad)""#) }
        }
    }

    @Test func theContainerGetsTheSocketTheUdevViewAndItsSlotsByNumberOnly() throws {
        var lease = Lease(id: id, state: .active)
        lease.session = SessionPaths(root: "/run/fractal-agent/sessions", id: id)
        lease.devices = [
            LeasedDevice(
                role: .keyboard, name: "k", phys: "", sysname: "input7", nodes: [LeasedNode(kind: "event", path: "/dev/input/event7", major: 13, minor: 71)]),
            LeasedDevice(
                role: .tablet, name: "t", phys: "", sysname: "input9",
                nodes: [
                    LeasedNode(kind: "event", path: "/dev/input/event9", major: 13, minor: 73),
                    LeasedNode(kind: "mouse", path: "/dev/input/mouse3", major: 13, minor: 35),
                ],
                plugged: false),
            // Not one of the container's roles (fractal.devices defaults to keyboard, mouse, tablet).
            LeasedDevice(
                role: .gamepad, name: "g", phys: "", sysname: "input10", nodes: [LeasedNode(kind: "event", path: "/dev/input/event10", major: 13, minor: 74)]),
        ]
        let labelled = try plan(#""fractal.session-dir": "/run/input""#)
        let request = try labelled.containerCreation(at: 0, grant: labelled.grant(at: 0, lease: lease)).request
        #expect(request.HostConfig.Binds == [
            "/run/fractal-agent/sessions/session-42/socket:/run/input:ro",
            "/run/fractal-agent/sessions/session-42/udev:/run/udev:ro",
        ])
        #expect(request.HostConfig.Devices?.map(\.PathOnHost) == ["/dev/input/event7"])
        #expect(request.HostConfig.DeviceCgroupRules == ["c 13:73 rwm", "c 13:35 rwm"])
        #expect(request.Env?.contains("FRACTAL_SESSION_SOCKET=/run/input/input.sock") == true)
        #expect(request.Labels?["fractal.id"] == id.rawValue)

        let bare = try plan("").containerCreation(at: 0, grant: ContainerGrant(id: id, nodes: [ContainerGrant.Node(hostPath: "/dev/input/event7", major: 13, minor: 71)]))
        #expect(bare.request.HostConfig.Binds == nil)
        #expect(bare.request.HostConfig.DeviceCgroupRules == nil)
    }
}
