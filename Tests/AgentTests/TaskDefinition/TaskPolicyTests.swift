@testable import Agent
import DeviceManager
import Foundation
import Testing

/// A hostile task definition meets the operator's policy: each refusal names the field, says
/// why and, where one exists, the flag that would allow it; allowed definitions still plan.
@Suite struct TaskPolicyTests {
    let id = try! FractalID("session-42")

    /// The daemon's own defaults: one allowed root, nothing else granted.
    static let strict = TaskPolicy(
        allowedRoots: ["/var/lib/fractal-agent/sessions"],
        reservedPaths: ["/run/fractal-agent/agent.sock", "/var/lib/fractal-agent", "/run/fractal-agent/sessions", "/var/run/docker.sock"])

    func refusal(_ json: String, policy: TaskPolicy = strict) -> TaskDefinitionError? {
        do {
            _ = try TaskPlan(json: json, id: id, policy: policy)
            return nil
        } catch {
            return error
        }
    }

    func refusal(container: String = "", volumes: String = "[]", task: String = "", policy: TaskPolicy = strict) -> TaskDefinitionError? {
        refusal(Fixtures.minimal(container: container, volumes: volumes, task: task), policy: policy)
    }

    /// A one-volume task binding `sourcePath` at /data.
    func bind(_ sourcePath: String, policy: TaskPolicy = strict) -> TaskDefinitionError? {
        refusal(
            container: #""mountPoints": [{"sourceVolume": "v", "containerPath": "/data"}]"#,
            volumes: #"[{"name": "v", "host": {"sourcePath": "\#(sourcePath)"}}]"#, policy: policy)
    }

    func device(_ hostPath: String, containerPath: String? = nil, policy: TaskPolicy = strict) -> TaskDefinitionError? {
        let target = containerPath.map { #", "containerPath": "\#($0)""# } ?? ""
        return refusal(container: #""linuxParameters": {"devices": [{"hostPath": "\#(hostPath)"\#(target)}]}"#, policy: policy)
    }

    // MARK: Log drivers

    @Test(arguments: [
        #"{"logDriver": "syslog", "options": {"syslog-address": "unix:///run/fractal-agent/agent.sock"}}"#,
        #"{"logDriver": "syslog", "options": {"syslog-address": "tcp://169.254.169.254:80"}}"#,
        #"{"logDriver": "json-file", "options": {"max-size": "10m", "fluentd-address": "127.0.0.1:24224"}}"#,
    ])
    func logOptionsThatSayWhereLogsGoAreRefused(logConfiguration: String) throws {
        let error = try #require(refusal(container: #""logConfiguration": \#(logConfiguration)"#, task: #" "networkMode": "none","#))
        #expect(error.path.hasPrefix("containerDefinitions[0].logConfiguration.options."), "\(error)")
        guard case .refused(_, let reason, let flag) = error else { Issue.record("\(error)"); return }
        #expect(reason.contains("may not say where logs go") && flag == nil, "\(reason)")
    }

    @Test func localLogOptionsPass() {
        #expect(refusal(container: #""logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}"#) == nil)
        #expect(refusal(container: #""logConfiguration": {"logDriver": "syslog", "options": {"tag": "session"}}"#) == nil)
        #expect(refusal(container: #""logConfiguration": {"logDriver": "none"}"#) == nil)
    }

    // MARK: Host binds

    @Test(arguments: ["/", "/var/run/docker.sock", "/run/fractal-agent", "/etc", "/etc/", "//etc", "/./etc", "/home/user", "/run"])
    func hostPathsAreRefusedByDefault(sourcePath: String) throws {
        let error = try #require(bind(sourcePath))
        #expect(error.path == "volumes[0].host.sourcePath", "\(error)")
        guard case .refused = error else { Issue.record("expected refused, got \(error)"); return }
    }

    @Test func aRefusalNamesTheFlagThatAllowsIt() throws {
        let error = try #require(bind("/srv/www"))
        #expect(error == .refused(
            path: "volumes[0].host.sourcePath", reason: "'/srv/www' is not a host path the operator allows a task to bind (none allowed)",
            allowedBy: "--allow-host-path"))
        #expect(error.description.hasSuffix("; the operator may allow it with fractal-agent --allow-host-path"))
    }

    @Test func allowedHostPathsAndWhatIsBelowThemAreBoundNormalised() throws {
        var policy = Self.strict
        policy.allowedHostPaths = ["/srv/www/"]
        #expect(bind("/srv/www", policy: policy) == nil)
        #expect(bind("/srv//www/static/", policy: policy) == nil)
        #expect(bind("/srv/wwwx", policy: policy) != nil)
        #expect(bind("/srv", policy: policy) != nil)
        let plan = try TaskPlan(
            json: Fixtures.minimal(
                container: #""mountPoints": [{"sourceVolume": "v", "containerPath": "/data"}]"#,
                volumes: #"[{"name": "v", "host": {"sourcePath": "/srv//www/./static/"}}]"#),
            id: id, policy: policy)
        #expect(plan.bindSources["v"] == "/srv/www/static")
        #expect(try plan.containerCreation(at: 0, grant: ContainerGrant(id: plan.id, nodes: [])).request.HostConfig.Binds == ["/srv/www/static:/data"])
    }

    @Test func dotDotIsRefusedInABindSource() throws {
        var policy = Self.strict
        policy.allowedHostPaths = ["/srv/www"]
        let error = try #require(bind("/srv/www/../../etc", policy: policy))
        #expect(error.path == "volumes[0].host.sourcePath")
        #expect(error.description.contains("'..' component"))
    }

    @Test func reservedPathsAreRefusedEvenWhenAllowed() throws {
        var policy = Self.strict
        policy.allowedHostPaths = ["/"]
        for path in ["/", "/run", "/run/fractal-agent", "/var/run/docker.sock", "/var/lib/fractal-agent/state.sqlite"] {
            let error = try #require(bind(path, policy: policy), "\(path)")
            guard case .refused(_, let reason, let flag) = error else { Issue.record("\(error)"); continue }
            #expect(flag == nil)
            #expect(reason.contains("belongs to fractal-agent or Docker") || reason.contains("allowed root"), "\(reason)")
        }
        #expect(bind("/srv/www", policy: policy) == nil)
    }

    @Test func anAllowedPathOverlappingTheSessionsRootIsRefused() throws {
        var policy = Self.strict
        policy.allowedHostPaths = ["/var/lib"]
        policy.reservedPaths = []
        for path in ["/var/lib/fractal-agent", "/var/lib/fractal-agent/sessions/0123456789abcdef0123456789abcdef"] {
            let error = try #require(bind(path, policy: policy), "\(path)")
            #expect(error.description.contains("holds every session's directories"), "\(error)")
        }
    }

    @Test func aLinkInAnAllowedDirectoryIsFollowedBeforeTheCheck() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("fractal-policy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base + "/real", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createSymbolicLink(atPath: base + "/root", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: base + "/inside", withDestinationPath: base + "/real")
        var policy = Self.strict
        policy.allowedHostPaths = [base]
        let error = try #require(bind(base + "/root/etc", policy: policy))
        #expect(error.description.contains("a link to /etc"), "\(error)")
        #expect(bind(base + "/root/not-there-yet", policy: policy) != nil)
        #expect(bind(base + "/inside", policy: policy) == nil)
    }

    @Test func placeholderDirectoriesMustLieBelowAnAllowedRoot() throws {
        let outside = try #require(bind("/etc/%%FRACTAL_ID_PLACEHOLDER%%"))
        #expect(outside.description.contains("/etc/session-42 for this session"), "\(outside)")
        guard case .refused(_, _, let flag) = outside else { Issue.record("\(outside)"); return }
        #expect(flag == "--allowed-root")
        #expect(bind("/var/lib/fractal-agent/sessions/%%FRACTAL_ID_PLACEHOLDER%%") == nil)
        #expect(bind("/var/lib/fractal-agent//sessions/./%%FRACTAL_ID_PLACEHOLDER%%/") == nil)
        // The root itself is every session's; the placeholder must make a directory below it.
        #expect(bind("/var/lib/fractal-agent/%%FRACTAL_ID_PLACEHOLDER%%") != nil)
    }

    @Test func placeholderIsSubstitutedOnceIntoNormalisedPaths() throws {
        let plan = try TaskPlan(
            json: Fixtures.minimal(
                container: #""mountPoints": [{"sourceVolume": "v", "containerPath": "/data"}]"#,
                volumes: #"[{"name": "v", "host": {"sourcePath": "/var/lib/fractal-agent//sessions/./%%FRACTAL_ID_PLACEHOLDER%%/"}}]"#),
            id: id, policy: Self.strict)
        #expect(plan.directories == [PlannedDirectory(
            volumeName: "v", template: "/var/lib/fractal-agent/sessions/%%FRACTAL_ID_PLACEHOLDER%%",
            hostPath: "/var/lib/fractal-agent/sessions/session-42")])
        // What the lease is asked to make is the normalised template: the provisioner puts it at hostPath.
        #expect(plan.directories[0].request.template == "/var/lib/fractal-agent/sessions/%%FRACTAL_ID_PLACEHOLDER%%")
        #expect(try plan.containerCreation(at: 0, grant: ContainerGrant(id: plan.id, nodes: [])).request.HostConfig.Binds == ["/var/lib/fractal-agent/sessions/session-42:/data"])
    }

    @Test func mountTargetsAreNormalisedToo() throws {
        let volumes = #"[{"name": "a"}, {"name": "b"}]"#
        let twice = try #require(refusal(
            container: #""mountPoints": [{"sourceVolume": "a", "containerPath": "/data"}, {"sourceVolume": "b", "containerPath": "//data/./"}]"#,
            volumes: volumes))
        #expect(twice.path == "containerDefinitions[0].mountPoints[1].containerPath")
        let root = try #require(refusal(container: #""mountPoints": [{"sourceVolume": "a", "containerPath": "//"}]"#, volumes: volumes))
        #expect(root.path == "containerDefinitions[0].mountPoints[0].containerPath")
        let plan = try TaskPlan(
            json: Fixtures.minimal(container: #""mountPoints": [{"sourceVolume": "a", "containerPath": "/data//x/:rshared"}]"#, volumes: volumes),
            id: id, policy: Self.strict)
        #expect(try plan.containerCreation(at: 0, grant: ContainerGrant(id: plan.id, nodes: [])).request.HostConfig.Binds == ["fractal-session-42-a:/data/x:rshared"])
    }

    // MARK: Docker volumes

    @Test(arguments: [
        (#"{"scope": "shared"}"#, "scope"),
        (#"{"scope": "shared", "autoprovision": true}"#, "scope"),
        (#"{"driver": "rexray"}"#, "driver"),
        (#"{"driverOpts": {"type": "none", "o": "bind", "device": "/"}}"#, "driverOpts"),
        (#"{"driver": "local", "driverOpts": {"type": "tmpfs"}}"#, "driverOpts"),
    ])
    func dockerVolumeOptionsAreRefusedUnlessAllowed(configuration: String, field: String) throws {
        let volumes = #"[{"name": "v", "dockerVolumeConfiguration": \#(configuration)}]"#
        let error = try #require(refusal(volumes: volumes))
        #expect(error.path == "volumes[0].dockerVolumeConfiguration.\(field)", "\(error)")
        guard case .refused(_, _, let flag) = error else { Issue.record("\(error)"); return }
        #expect(flag == "--allow-docker-volume-options")
        var policy = Self.strict
        policy.allowsDockerVolumeOptions = true
        #expect(refusal(volumes: volumes, policy: policy) == nil)
    }

    @Test func taskScopedLocalVolumesAreAllowed() {
        #expect(refusal(volumes: #"[{"name": "a"}, {"name": "b", "dockerVolumeConfiguration": {"scope": "task", "driver": "local", "labels": {"k": "v"}}}]"#) == nil)
    }

    // MARK: Capabilities and confinement

    @Test(arguments: ["SYS_ADMIN", "SYS_MODULE", "CAP_SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"])
    func capabilitiesBeyondDockersDefaultsNeedTheOperator(name: String) throws {
        let container = #""linuxParameters": {"capabilities": {"add": ["CHOWN", "\#(name)"]}}"#
        let error = try #require(refusal(container: container))
        #expect(error.path == "containerDefinitions[0].linuxParameters.capabilities.add[1]")
        #expect(error.description.contains("--allow-capability"), "\(error)")
        var policy = Self.strict
        policy.allowedCapabilities = [name.hasPrefix("CAP_") ? String(name.dropFirst(4)) : "CAP_" + name]
        #expect(refusal(container: container, policy: policy) == nil)
    }

    @Test(arguments: ["ALL", "CAP_ALL"])
    func allCapabilitiesAreAlwaysRefused(name: String) throws {
        var policy = Self.strict
        policy.allowedCapabilities = ["ALL"]
        let error = try #require(refusal(container: #""linuxParameters": {"capabilities": {"add": ["\#(name)"]}}"#, policy: policy))
        guard case .refused(let path, _, let flag) = error else { Issue.record("\(error)"); return }
        #expect(path == "containerDefinitions[0].linuxParameters.capabilities.add[0]")
        #expect(flag == nil)
    }

    @Test func droppingAndReAddingDefaultsIsAllowed() {
        #expect(refusal(container: #""linuxParameters": {"capabilities": {"drop": ["ALL"], "add": ["CHOWN", "CAP_KILL", "NET_BIND_SERVICE"]}}"#) == nil)
    }

    @Test(arguments: [
        "seccomp=unconfined", "seccomp:unconfined", "apparmor=unconfined", "apparmor:unconfined", "label=disable", "label:disable",
        "systempaths=unconfined", "no-new-privileges=false", "no-new-privileges:false", "seccomp={}", "apparmor=docker-default",
        "label=type:spc_t", "privileged",
    ])
    func securityOptionsThatCouldUnconfineAreRefused(option: String) throws {
        let error = try #require(refusal(container: #""dockerSecurityOptions": ["no-new-privileges", "\#(option)"]"#))
        #expect(error.path == "containerDefinitions[0].dockerSecurityOptions[1]", "\(error)")
        guard case .refused = error else { Issue.record("\(error)"); return }
    }

    @Test func noNewPrivilegesIsAllowed() {
        #expect(refusal(container: #""dockerSecurityOptions": ["no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"]"#) == nil)
    }

    // MARK: Namespaces

    @Test(arguments: ["pidMode", "ipcMode"])
    func hostNamespacesAreRefused(field: String) throws {
        let error = try #require(refusal(task: "\n  \"\(field)\": \"host\","))
        #expect(error.path == field)
    }

    @Test func hostNetworkIsRefusedWithHotplugSlots() throws {
        let labels = #""dockerLabels": {"fractal.devices": "keyboard", "fractal.hotplug": "gamepad"}"#
        let error = try #require(refusal(container: labels, task: #" "networkMode": "host","#))
        #expect(error.path == "networkMode")
        #expect(error.description.contains("fractal.hotplug"), "\(error)")
        #expect(refusal(container: labels, task: #" "networkMode": "bridge","#) == nil)
        #expect(refusal(container: labels) == nil)
        // Without slots, host networking stays as it was.
        #expect(refusal(container: #""dockerLabels": {"fractal.devices": "keyboard"}"#, task: #" "networkMode": "host","#) == nil)
    }

    // MARK: Sysctls and ulimits

    @Test(arguments: ["kernel.core_pattern", "kernel.domainname", "kernel.shmmax", "net.ipv4.ip_forward", "vm.overcommit_memory", "fs.mqueue.msg_max"])
    func sysctlsOutsideTheSafeListAreRefused(name: String) throws {
        let error = try #require(refusal(container: #""systemControls": [{"namespace": "\#(name)", "value": "1"}]"#))
        #expect(error.path == "containerDefinitions[0].systemControls[0].namespace")
    }

    @Test func safeSysctlsAreAllowedButNotNetworkOnesOnTheHostNetwork() throws {
        let controls = #""systemControls": [{"namespace": "net.ipv4.ping_group_range", "value": "0 2147483647"}, {"namespace": "kernel.shm_rmid_forced", "value": "1"}]"#
        #expect(refusal(container: controls, task: #" "networkMode": "bridge","#) == nil)
        let error = try #require(refusal(container: controls, task: #" "networkMode": "host","#))
        #expect(error.path == "containerDefinitions[0].systemControls[0].namespace")
        #expect(refusal(container: #""systemControls": [{"namespace": "kernel.shm_rmid_forced", "value": "1\n2"}]"#)?.path
            == "containerDefinitions[0].systemControls[0].value")
    }

    @Test(arguments: [
        ("memlock", -1, -1, "softLimit"), ("memlock", 0, 134_217_728, "hardLimit"), ("nofile", 1024, 2_000_000, "hardLimit"),
        ("nproc", -1, 100, "softLimit"), ("rtprio", 0, 99, "name"), ("nice", 0, 40, "name"), ("rttime", 1, 1, "name"),
    ])
    func ulimitsOutsideTheirCeilingsAreRefused(name: String, soft: Int, hard: Int, field: String) throws {
        let error = try #require(refusal(container: #""ulimits": [{"name": "\#(name)", "softLimit": \#(soft), "hardLimit": \#(hard)}]"#))
        #expect(error.path == "containerDefinitions[0].ulimits[0].\(field)", "\(error)")
    }

    @Test func ulimitsWithinTheirCeilingsAreAllowed() {
        let limits = #""ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 1048576}, {"name": "core", "softLimit": -1, "hardLimit": -1}, {"name": "memlock", "softLimit": 65536, "hardLimit": 67108864}]"#
        #expect(refusal(container: limits) == nil)
    }

    // MARK: Devices

    static let inputSpellings = [
        "/dev/input/event0", "/dev//input/event0", "//dev/input", "/dev/input/", "/dev/./uinput", "/dev/../dev/input",
        "/dev/input/../uinput", "/dev//uinput", "/dev/uinput", "/dev/uhid", "/dev/hidraw0", "/dev", "/dev/", "/",
    ]

    @Test(arguments: inputSpellings)
    func inputDevicesAreRefusedInEverySpellingWhateverIsAllowed(hostPath: String) throws {
        var everything = Self.strict
        everything.allowedDevices = ["/"]
        for policy in [Self.strict, everything] {
            let error = try #require(device(hostPath, policy: policy))
            #expect(error.path == "containerDefinitions[0].linuxParameters.devices[0].hostPath", "\(error)")
            #expect(error.description.contains("input devices come only from the session's lease"), "\(error)")
            guard case .refused(_, _, let flag) = error else { Issue.record("\(error)"); continue }
            #expect(flag == nil)
        }
    }

    @Test(arguments: ["/dev//input/event0", "/dev/./uinput", "/dev/input/../uinput", "//dev/hidraw3"])
    func inputContainerPathsAreRefusedInEverySpelling(containerPath: String) throws {
        var policy = Self.strict
        policy.allowedDevices = ["/dev/dri"]
        let error = try #require(device("/dev/dri/renderD128", containerPath: containerPath, policy: policy))
        #expect(error.path == "containerDefinitions[0].linuxParameters.devices[0].containerPath", "\(error)")
    }

    @Test(arguments: ["/dev/tty1", "/dev/tty", "/dev/ttyS0", "/dev/console", "/dev/vcs1", "/dev/vcsa", "/dev/mem", "/dev/kmem", "/dev/port"])
    func consoleAndMemoryDevicesAreAlwaysRefused(hostPath: String) throws {
        var policy = Self.strict
        policy.allowedDevices = ["/dev"]
        let error = try #require(device(hostPath, policy: policy))
        guard case .refused(_, _, let flag) = error else { Issue.record("\(error)"); return }
        #expect(flag == nil)
    }

    @Test(arguments: ["/dev/sda", "/dev/dri/renderD128", "/dev/nvidia0", "/dev/fuse", "/dev/kvm", "/dev/loop0"])
    func otherDevicesNeedTheOperator(hostPath: String) throws {
        let error = try #require(device(hostPath))
        #expect(error.path == "containerDefinitions[0].linuxParameters.devices[0].hostPath")
        #expect(error.description.contains("--allow-device"), "\(error)")
    }

    @Test func allowedDevicesAreMappedNormalised() throws {
        var policy = Self.strict
        policy.allowedDevices = ["/dev/dri", "/dev/nvidia0"]
        #expect(device("/dev/nvidia0", policy: policy) == nil)
        #expect(device("/dev/nvidia0x", policy: policy) != nil)
        #expect(device("/dev/dri/../sda", policy: policy) != nil)
        let plan = try TaskPlan(
            json: Fixtures.minimal(container: #""linuxParameters": {"devices": [{"hostPath": "/dev//dri/./renderD128", "permissions": ["read"]}]}"#),
            id: id, policy: policy)
        #expect(plan.containerDevices == [[PlannedDevice(hostPath: "/dev/dri/renderD128", containerPath: "/dev/dri/renderD128", cgroupPermissions: "r")]])
    }

    @Test func aLinkToInputDevicesIsFollowedAndRefused() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("fractal-devices-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createSymbolicLink(atPath: base + "/devices", withDestinationPath: "/dev")
        var policy = Self.strict
        policy.allowedDevices = [base]
        let error = try #require(device(base + "/devices/input/event0", policy: policy))
        #expect(error.description.contains("(a link to /dev/input/event0) is or holds input devices"), "\(error)")
    }

    // MARK: The one entry

    @Test func bytesBecomeACheckedPlanInOneCall() throws {
        let plan = try TaskPlan(json: Data(Fixtures.fractal.utf8), id: id, policy: Fixtures.policy)
        #expect(plan.directories.count == 3)
        #expect(throws: TaskDefinitionError.self) { try TaskPlan(json: Data(Fixtures.fractal.utf8), id: id, policy: Self.strict) }
        #expect(throws: TaskDefinitionError.self) { try TaskPlan(json: Data("{".utf8), id: id, policy: Self.strict) }
    }
}
