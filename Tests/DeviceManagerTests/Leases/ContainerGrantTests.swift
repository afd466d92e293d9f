import DeviceManager
import Foundation
import Testing

/// The one description of what a lease grants a container, and the renderings built from it.
@Suite struct ContainerGrantTests {
    static let id = try! FractalID("0a1b2c3d4e5f60718293a4b5c6d7e8f9")

    /// A lease with a plugged keyboard, an unplugged gamepad (a hot-plug slot), a directory and a session.
    static var lease: Lease {
        var lease = Lease(id: id, state: .active)
        lease.devices = [
            LeasedDevice(
                role: .keyboard, name: "Fractal Virtual Keyboard", phys: "fractal/\(id)/keyboard", sysname: "input7",
                nodes: [LeasedNode(kind: "event", path: "/dev/input/event7", major: 13, minor: 71)]),
            LeasedDevice(
                role: .gamepad, name: "Fractal Virtual Gamepad", phys: "fractal/\(id)/gamepad", sysname: "input8",
                nodes: [
                    LeasedNode(kind: "event", path: "/dev/input/event8", major: 13, minor: 72),
                    LeasedNode(kind: "joystick", path: "/dev/input/js0", major: 13, minor: 0),
                ],
                plugged: false),
        ]
        lease.directories = [ProvisionedDirectory(id: id, path: "/srv/sessions/\(id)", root: "/srv/sessions", createdIntermediates: [], mount: nil, keep: false)]
        lease.session = SessionPaths(root: "/run/fractal-agent/sessions", id: id)
        return lease
    }

    @Test func aLeaseGrantsItsNodesItsDirectoriesItsSessionAndItsID() {
        let grant = ContainerGrant(lease: Self.lease)
        #expect(grant.presentNodes == [ContainerGrant.Node(hostPath: "/dev/input/event7", major: 13, minor: 71)])
        #expect(grant.slotNodes.map(\.cgroupRule) == ["c 13:72 rwm", "c 13:0 rwm"])
        #expect(grant.mounts == [
            .init(hostPath: "/srv/sessions/\(Self.id)", containerPath: "/srv/sessions/\(Self.id)", readOnly: false),
            .init(hostPath: "/run/fractal-agent/sessions/\(Self.id)/socket", containerPath: "/run/fractal", readOnly: true),
            .init(hostPath: "/run/fractal-agent/sessions/\(Self.id)/udev", containerPath: "/run/udev", readOnly: true),
        ])
        #expect(grant.environment.map(\.assignment) == ["FRACTAL_ID=\(Self.id)", "FRACTAL_SESSION_SOCKET=/run/fractal/input.sock"])
        #expect(grant.labels == ["fractal.id": Self.id.rawValue])
    }

    @Test func aContainerCanTakeSomeRolesWithoutTheDirectoriesAndItsOwnSocketPlace() {
        let grant = ContainerGrant(lease: Self.lease, roles: [.keyboard], directories: false, sessionDirectory: "/run/input")
        #expect(grant.nodes.map(\.hostPath) == ["/dev/input/event7"])
        #expect(grant.mounts.map(\.containerPath) == ["/run/input", "/run/udev"])
        #expect(grant.environment.last?.assignment == "FRACTAL_SESSION_SOCKET=/run/input/input.sock")
    }

    @Test func nodesCarryTheUdevRulesLinksOnlyWhenUdevRanThem() {
        var lease = Self.lease
        #expect(ContainerGrant(lease: lease).nodes.allSatisfy { $0.stableLink == nil })
        lease.udev = .initialized
        let id = Self.id.rawValue
        #expect(ContainerGrant(lease: lease).nodes.map(\.stableLink) == [
            "/dev/input/by-fractal-id/\(id)/keyboard", "/dev/input/by-fractal-id/\(id)/gamepad",
            "/dev/input/by-fractal-id/\(id)/gamepad-joystick",
        ])
        #expect(DeviceNode.stableLink(id: Self.id, role: .mouse, kind: .mouse) == "/dev/input/by-fractal-id/\(id)/mouse-mouse")
    }

    @Test func dockerRunFlagsAreTheGrantAsFlags() {
        let id = Self.id.rawValue
        #expect(ContainerGrant(lease: Self.lease).dockerRunFlags == [
            "--device", "/dev/input/event7:/dev/input/event7:rwm",
            "--device-cgroup-rule", "c 13:72 rwm", "--device-cgroup-rule", "c 13:0 rwm",
            "-v", "/srv/sessions/\(id):/srv/sessions/\(id)",
            "-v", "/run/fractal-agent/sessions/\(id)/socket:/run/fractal:ro",
            "-v", "/run/fractal-agent/sessions/\(id)/udev:/run/udev:ro",
            "-e", "FRACTAL_ID=\(id)", "-e", "FRACTAL_SESSION_SOCKET=/run/fractal/input.sock",
            "--label", "fractal.id=\(id)",
        ])
    }

    @Test func theCDISpecIsTheGrantsPresentNodesMountsAndEnvironment() throws {
        let grant = ContainerGrant(lease: Self.lease)
        let spec = CDISpec(grant: grant, ownership: ["/dev/input/event7": .init(mode: 0o660, uid: 0, gid: 104)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try #require(String(data: try encoder.encode(spec), encoding: .utf8))
        let id = Self.id.rawValue
        #expect(json == """
            {"cdiVersion":"0.5.0","devices":[{"containerEdits":{"deviceNodes":[{"fileMode":432,"gid":104,"hostPath":"/dev/input/event7",\
            "major":13,"minor":71,"path":"/dev/input/event7","permissions":"rwm","type":"c","uid":0}],\
            "env":["FRACTAL_ID=\(id)","FRACTAL_SESSION_SOCKET=/run/fractal/input.sock"],\
            "mounts":[{"containerPath":"/srv/sessions/\(id)","hostPath":"/srv/sessions/\(id)","options":["rbind","rw","nosuid","nodev"]},\
            {"containerPath":"/run/fractal","hostPath":"/run/fractal-agent/sessions/\(id)/socket","options":["rbind","ro","nosuid","nodev"]},\
            {"containerPath":"/run/udev","hostPath":"/run/fractal-agent/sessions/\(id)/udev","options":["rbind","ro","nosuid","nodev"]}]},\
            "name":"\(id)"}],"kind":"fractal.dev/input"}
            """)
        #expect(CDISpec.qualifiedName(of: Self.id) == "fractal.dev/input=\(id)")
    }

    @Test func onlyIDsEndingInALetterOrDigitNameACDIDevice() throws {
        #expect(CDISpec.canName(try FractalID("0abc")))
        #expect(CDISpec.canName(try FractalID("session-7")))
        #expect(!CDISpec.canName(try FractalID("session-")))
        #expect(!CDISpec.canName(try FractalID("session_")))
    }
}
