// libFuzzer target `task-definition`: a hostile task definition's bytes, as `POST /v1/tasks`
// receives them, through the one entry from bytes to a checked plan (`TaskPlan(json:id:policy:)`:
// syntax, ECS features, validation, the operator's policy), and then, for a definition that is
// accepted, through every container's Docker create body.
//
// The oracle is what Docker will be asked for, not what the validator thinks: an accepted task's
// create bodies bind only its session's directories, its session socket and udev view, the
// operator's allowed host paths and its own Docker volumes; add only Docker's default
// capabilities or allowed ones; map only its granted input nodes and allowed devices; keep
// Docker's confinement; set only safe sysctls and bounded ulimits; carry this session's name and
// labels. Also: every refusal is a
// TaskDefinitionError (typed throws); an accepted definition written back as JSON plans the same.

import Agent
import DeviceManager
import Foundation

private let session = try! FractalID("0123456789abcdef0123456789abcdef")
private let sessionRoot = "/var/lib/fractal-agent/sessions"
private let sharedPath = "/srv/fractal-shared"
private let allowedDevice = "/dev/dri"
private let allowedCapability = "SYS_PTRACE"
/// The daemon's defaults (DaemonConfiguration) with one entry in each allow-list, so the
/// allowed branches are reachable too.
private let policy = TaskPolicy(
    allowedRoots: [sessionRoot], allowedHostPaths: [sharedPath], allowedCapabilities: [allowedCapability],
    allowedDevices: [allowedDevice], allowsDockerVolumeOptions: false,
    reservedPaths: ["/run/fractal-agent/agent.sock", "/var/lib/fractal-agent", "/run/fractal-agent/sessions", "/var/run/docker.sock"])
private let sessionPaths = SessionPaths(root: "/run/fractal-agent/sessions", id: session)

@_cdecl("LLVMFuzzerTestOneInput")
public func taskDefinitionFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Data(bytes: data!, count: size) : Data()
    let plan: TaskPlan
    do {
        plan = try TaskPlan(json: bytes, id: session, policy: policy)
    } catch {
        _ = error.description
        _ = error.path
        return 0
    }
    checkDirectories(plan)
    checkRoundTrip(plan)
    checkContainerCreation(plan)
    return 0
}

func violation(_ what: String, _ plan: TaskPlan) -> Never {
    fatalError("accepted task definition \(what)\n\(plan.definition)")
}

/// `path` is `root` or below it, compared by components.
func isWithin(_ path: String, _ root: String) -> Bool {
    path == root || path.hasPrefix(root + "/")
}

func isNormalAbsolute(_ path: String) -> Bool {
    guard path.hasPrefix("/") else { return false }
    let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    return path == "/" || !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
}

func checkDirectories(_ plan: TaskPlan) {
    for directory in plan.directories {
        let path = directory.hostPath
        guard isNormalAbsolute(path), path.hasPrefix(sessionRoot + "/"), path.contains(session.rawValue),
              !Placeholder.containsPlaceholder(path) else {
            violation("makes host directory '\(path)' from '\(directory.template)'", plan)
        }
    }
}

func checkRoundTrip(_ plan: TaskPlan) {
    let json: Data
    do { json = try JSONEncoder().encode(plan.definition) } catch {
        violation("does not encode as JSON: \(error)", plan)
    }
    do {
        let again = try TaskPlan(json: json, id: session, policy: policy)
        guard again == plan else { violation("plans differently after a JSON round trip:\n\(again)", plan) }
    } catch {
        violation("is refused after a JSON round trip: \(error)\n\(String(decoding: json, as: UTF8.self))", plan)
    }
}

func checkContainerCreation(_ plan: TaskPlan) {
    // The lease the daemon would make for the plan: one event node per role, slots unplugged.
    var lease = Lease(id: session, state: .active, udev: .initialized, session: sessionPaths)
    var minor: UInt32 = 64
    for role in plan.deviceRoles + plan.hotplugRoles {
        lease.devices.append(LeasedDevice(
            role: role, name: role.rawValue, phys: "fractal/\(session)/\(role.rawValue)", sysname: "input\(minor)",
            nodes: [LeasedNode(kind: "event", path: "/dev/input/event\(minor - 64)", major: 13, minor: minor)],
            plugged: !plan.hotplugRoles.contains(role)))
        minor += 1
    }
    for index in plan.containers.indices {
        let grant = plan.grant(at: index, lease: lease)
        let granted = grant.nodes
        let creation: ContainerCreation
        do {
            creation = try plan.containerCreation(at: index, grant: grant)
        } catch {
            _ = error.description
            continue
        }
        do { _ = try JSONEncoder().encode(creation.request) } catch {
            violation("has a create body that does not encode: \(error)", plan)
        }
        // The daemon finds a session's containers by these after a restart: they must be this session's.
        guard creation.name.hasPrefix("fractal-\(session.rawValue)-"),
              ContainerLabel.reserved.allSatisfy({ creation.request.Labels?[$0] != nil }),
              creation.request.Labels?[ContainerLabel.id] == session.rawValue else {
            violation("names its container '\(creation.name)' with labels \(creation.request.Labels ?? [:])", plan)
        }
        check(creation.request.HostConfig, granted: granted, plan: plan)
    }
}

/// What Docker will do with `host`, held to the policy.
func check(_ host: ContainerCreateRequest.HostConfig, granted: [ContainerGrant.Node], plan: TaskPlan) {
    let volumeNames = Set(plan.dockerVolumes.map(\.dockerName))
    for bind in host.Binds ?? [] {
        // Docker splits on ':' and takes the first field as the source.
        let source = String(bind.split(separator: ":", omittingEmptySubsequences: false)[0])
        if !source.hasPrefix("/") {
            guard volumeNames.contains(source) else { violation("binds Docker volume '\(source)', not one of its own (\(bind))", plan) }
            continue
        }
        let own = plan.directories.contains { $0.hostPath == source }
        let sessionView = source == sessionPaths.socketDirectory || source == sessionPaths.udevDirectory
        guard isNormalAbsolute(source), own || sessionView || isWithin(source, sharedPath) else {
            violation("binds host path '\(source)' (\(bind))", plan)
        }
    }
    let grantedPaths = Set(granted.filter(\.present).map(\.hostPath))
    for device in host.Devices ?? [] {
        guard grantedPaths.contains(device.PathOnHost) || (isNormalAbsolute(device.PathOnHost) && isWithin(device.PathOnHost, allowedDevice)) else {
            violation("maps host device '\(device.PathOnHost)'", plan)
        }
    }
    let grantedRules = Set(granted.filter { !$0.present }.map(\.cgroupRule))
    for rule in host.DeviceCgroupRules ?? [] where !grantedRules.contains(rule) {
        violation("has device cgroup rule '\(rule)'", plan)
    }
    if host.NetworkMode == "host" && !(host.DeviceCgroupRules ?? []).isEmpty {
        violation("has hot-plug slots in the host's network namespace", plan)
    }
    let capabilities = TaskPolicy.dockerDefaultCapabilities.union([allowedCapability])
    for name in host.CapAdd ?? [] {
        // Docker's own reading: upper case, CAP_ prefix optional.
        var capability = name.uppercased()
        if capability.hasPrefix("CAP_") { capability.removeFirst(4) }
        guard capabilities.contains(capability) else { violation("adds capability '\(name)'", plan) }
    }
    if host.Privileged == true { violation("is privileged", plan) }
    for option in host.SecurityOpt ?? [] where !TaskPolicy.allowedSecurityOptions.contains(option) {
        violation("sets security option '\(option)'", plan)
    }
    for key in (host.Sysctls ?? [:]).keys {
        guard TaskPolicy.safeSysctls.contains(key), !(host.NetworkMode == "host" && key.hasPrefix("net.")) else {
            violation("sets sysctl '\(key)' (network mode \(host.NetworkMode))", plan)
        }
    }
    if let logging = host.LogConfig {
        let allowed = TaskPolicy.allowedLogOptions[logging.`Type`] ?? []
        for option in (logging.Config ?? [:]).keys where !allowed.contains(option) {
            violation("gives log driver \(logging.`Type`) the option '\(option)'", plan)
        }
    }
    for limit in host.Ulimits ?? [] {
        guard let ceiling = TaskPolicy.ulimitCeilings[limit.Name] else { violation("sets ulimit '\(limit.Name)'", plan) }
        if let ceiling, limit.Soft > ceiling || limit.Hard > ceiling || limit.Soft < 0 || limit.Hard < 0 {
            violation("sets ulimit \(limit.Name) to \(limit.Soft)/\(limit.Hard), over \(ceiling)", plan)
        }
    }
}
