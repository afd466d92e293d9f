import DeviceManager

/// What a task may have once ``TaskPolicy`` has approved it, every path normalised and, where
/// it exists on the host, resolved: what ``TaskPlan`` hands to the lease and to Docker.
struct ApprovedTask: Sendable, Equatable {
    /// Placeholder directories, substituted: the lease makes them.
    var directories: [PlannedDirectory] = []
    /// Docker-managed volumes.
    var dockerVolumes: [PlannedDockerVolume] = []
    /// What each volume binds, by volume name: a session directory, an allowed host path, or a Docker volume's name.
    var bindSources: [String: String] = [:]
    /// Each container's own `linuxParameters.devices`, by container index.
    var devices: [[PlannedDevice]] = []
}

extension TaskPolicy {
    /// Checks `definition` (already validated) for the session `id` against this policy.
    /// Touches nothing but `realpath` on the host, so links cannot walk around a check.
    func approve(
        _ definition: TaskDefinition, id: FractalID, networkMode: NetworkMode, hotplugLabel: String?
    ) throws(TaskDefinitionError) -> ApprovedTask {
        var approved = ApprovedTask()
        if networkMode == .host, let hotplugLabel {
            throw .refused(
                path: "networkMode",
                reason: "is host while \(hotplugLabel) names hot-plug slots: a plugged device's udev event would go out in the host's "
                    + "network namespace, to the host's own listeners; use bridge or none", allowedBy: nil)
        }
        for (index, volume) in (definition.volumes ?? []).enumerated() {
            try approve(volume, path: "volumes[\(index)]", id: id, into: &approved)
        }
        for (index, container) in definition.containerDefinitions.enumerated() {
            approved.devices.append(try approve(container, path: "containerDefinitions[\(index)]", networkMode: networkMode))
        }
        return approved
    }

    // MARK: Volumes

    private func approve(_ volume: Volume, path: String, id: FractalID, into approved: inout ApprovedTask) throws(TaskDefinitionError) {
        guard let sourcePath = volume.host?.sourcePath else {
            try approveDockerVolume(volume.dockerVolumeConfiguration, path: "\(path).dockerVolumeConfiguration")
            let planned = PlannedDockerVolume(volume: volume, id: id)
            approved.dockerVolumes.append(planned)
            approved.bindSources[volume.name] = planned.dockerName
            return
        }
        let field = "\(path).host.sourcePath"
        // Validation refused a relative path, NUL and '..'.
        guard let written = NormalizedPath(sourcePath) else { throw .invalid(path: field, reason: "'\(sourcePath)' is not an absolute path") }
        if Placeholder.containsPlaceholder(sourcePath) {
            // The one substitution: the lease makes this path, and the container binds it.
            let template = written.description
            guard let hostPath = NormalizedPath(Placeholder.substitute(template, id: id)) else {
                throw .invalid(path: field, reason: "'\(sourcePath)' is not an absolute path")
            }
            guard roots.contains(where: { hostPath.isStrictlyBelow($0) }) else {
                throw .refused(
                    path: field,
                    reason: "'\(sourcePath)' (\(hostPath) for this session) is not below an allowed root (\(rootList)); "
                        + "a session's directory is made only there", allowedBy: Flag.allowedRoot)
            }
            approved.directories.append(PlannedDirectory(volumeName: volume.name, template: template, hostPath: hostPath.description))
            approved.bindSources[volume.name] = hostPath.description
            return
        }
        // The path as written first, then (touching the host only for a path that passed) where its links lead.
        let resolved = try checkWrittenThenResolved(written, sourcePath) { candidate, shown throws(TaskDefinitionError) in
            try refuseReserved(candidate, written: sourcePath, path: field)
            if let root = roots.first(where: { candidate.overlaps($0) }) {
                throw .refused(
                    path: field,
                    reason: "\(shown) overlaps the allowed root \(root), which holds every session's directories; "
                        + "a task gets its own through \(Placeholder.fractalID)", allowedBy: nil)
            }
            guard hostPaths.contains(where: { candidate.isWithin($0) }) else {
                throw .refused(
                    path: field, reason: "\(shown) is not a host path the operator allows a task to bind (\(list(hostPaths)))",
                    allowedBy: Flag.hostPath)
            }
        }
        // Docker binds what the link leads to now; naming that closes the gap a later link swap would open.
        approved.bindSources[volume.name] = resolved.description
    }

    private func refuseReserved(_ candidate: NormalizedPath, written: String, path: String) throws(TaskDefinitionError) {
        // Both spellings of each: /var/run/docker.sock is /run/docker.sock on most hosts.
        let reserved = reservedPaths.flatMap { [NormalizedPath($0), NormalizedPath.resolvedOnHost($0)].compactMap { $0 } }
        if let reserved = reserved.first(where: { candidate.overlaps($0) }) {
            throw .refused(
                path: path, reason: "'\(written)' shows \(reserved), which belongs to fractal-agent or Docker", allowedBy: nil)
        }
    }

    private func approveDockerVolume(_ configuration: DockerVolumeConfiguration?, path: String) throws(TaskDefinitionError) {
        guard let configuration, !allowsDockerVolumeOptions else { return }
        let why = "a task's Docker volume is a local volume of its own, removed with it"
        if let scope = configuration.scope, scope != "task" {
            throw .refused(path: "\(path).scope", reason: "'\(scope)' is refused: \(why) (another task's volume is another session's data)", allowedBy: Flag.dockerVolumeOptions)
        }
        if configuration.autoprovision == true {
            throw .refused(path: "\(path).autoprovision", reason: "is refused: \(why)", allowedBy: Flag.dockerVolumeOptions)
        }
        if let driver = configuration.driver, driver != "local" {
            throw .refused(path: "\(path).driver", reason: "'\(driver)' is refused: \(why)", allowedBy: Flag.dockerVolumeOptions)
        }
        if let options = configuration.driverOpts, !options.isEmpty {
            throw .refused(
                path: "\(path).driverOpts",
                reason: "is refused: driver options can mount any host path or device (type=none, o=bind, device=/)",
                allowedBy: Flag.dockerVolumeOptions)
        }
    }

    // MARK: Containers

    private func approve(_ container: ContainerDefinition, path: String, networkMode: NetworkMode) throws(TaskDefinitionError) -> [PlannedDevice] {
        let parameters = "\(path).linuxParameters"
        let allowed = Set(allowedCapabilities.map(Self.canonicalCapability))
        for (index, name) in (container.linuxParameters?.capabilities?.add ?? []).enumerated() {
            let field = "\(parameters).capabilities.add[\(index)]"
            let capability = Self.canonicalCapability(name)
            if capability == "ALL" {
                throw .refused(path: field, reason: "'\(name)' is refused: every capability is root on the host in all but name", allowedBy: nil)
            }
            guard Self.dockerDefaultCapabilities.contains(capability) || allowed.contains(capability) else {
                throw .refused(
                    path: field, reason: "'\(name)' is not one of Docker's default capabilities nor allowed by the operator (\(list(allowedCapabilities)))",
                    allowedBy: Flag.capability)
            }
        }
        for (index, option) in (container.dockerSecurityOptions ?? []).enumerated() where !Self.allowedSecurityOptions.contains(option) {
            throw .refused(
                path: "\(path).dockerSecurityOptions[\(index)]",
                reason: "'\(option)' is refused: only no-new-privileges is accepted; seccomp, AppArmor and SELinux stay Docker's defaults",
                allowedBy: nil)
        }
        if let logging = container.logConfiguration {
            try approve(logging, path: "\(path).logConfiguration")
        }
        for (index, control) in (container.systemControls ?? []).enumerated() {
            try approve(control, path: "\(path).systemControls[\(index)]", networkMode: networkMode)
        }
        for (index, limit) in (container.ulimits ?? []).enumerated() {
            try approve(limit, path: "\(path).ulimits[\(index)]")
        }
        var devices: [PlannedDevice] = []
        for (index, device) in (container.linuxParameters?.devices ?? []).enumerated() {
            devices.append(try approve(device, path: "\(parameters).devices[\(index)]"))
        }
        return devices
    }

    private func approve(_ logging: LogConfiguration, path: String) throws(TaskDefinitionError) {
        let allowed = Self.allowedLogOptions[logging.logDriver] ?? []
        for name in (logging.options ?? [:]).keys.sorted() where !allowed.contains(name) {
            throw .refused(
                path: "\(path).options.\(name)",
                reason: "is refused: log options may not say where logs go (dockerd would connect there as root, from the host's network); \(logging.logDriver) takes \(allowed.isEmpty ? "no options" : allowed.sorted().joined(separator: ", "))",
                allowedBy: nil)
        }
    }

    private func approve(_ control: SystemControl, path: String, networkMode: NetworkMode) throws(TaskDefinitionError) {
        guard Self.safeSysctls.contains(control.namespace) else {
            throw .refused(
                path: "\(path).namespace",
                reason: "'\(control.namespace)' is not one of the sysctls a task may set (\(Self.safeSysctls.sorted().joined(separator: ", ")))",
                allowedBy: nil)
        }
        if networkMode == .host && control.namespace.hasPrefix("net.") {
            throw .refused(path: "\(path).namespace", reason: "'\(control.namespace)' would change the host's network stack with networkMode host", allowedBy: nil)
        }
        guard control.value.utf8.count <= 256, control.value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }) else {
            throw .invalid(path: "\(path).value", reason: "must be at most 256 printable ASCII characters")
        }
    }

    private func approve(_ limit: Ulimit, path: String) throws(TaskDefinitionError) {
        guard let entry = Self.ulimitCeilings[limit.name] else {
            throw .refused(
                path: "\(path).name",
                reason: "'\(limit.name)' is not a ulimit a task may set (\(Self.ulimitCeilings.keys.sorted().joined(separator: ", "))); "
                    + "nice, rtprio and rttime would let a session take the CPU from the others",
                allowedBy: nil)
        }
        for (field, value) in [("softLimit", limit.softLimit), ("hardLimit", limit.hardLimit)] {
            if let ceiling = entry {
                guard (0...ceiling).contains(value) else {
                    throw .refused(path: "\(path).\(field)", reason: "is \(value); \(limit.name) may be 0 to \(ceiling)", allowedBy: nil)
                }
            } else if value < -1 {
                throw .invalid(path: "\(path).\(field)", reason: "is \(value); use -1 for unlimited")
            }
        }
    }

    private func approve(_ device: Device, path: String) throws(TaskDefinitionError) -> PlannedDevice {
        let field = "\(path).hostPath"
        guard let written = NormalizedPath(device.hostPath) else {
            throw .invalid(path: field, reason: "'\(device.hostPath)' is not an absolute path")
        }
        let resolved = try checkWrittenThenResolved(written, device.hostPath) { candidate, shown throws(TaskDefinitionError) in
            if let reason = Self.hostDeviceRefusal(candidate) {
                throw .refused(path: field, reason: "\(shown) \(reason)", allowedBy: nil)
            }
            guard devicePaths.contains(where: { candidate.isWithin($0) }) else {
                throw .refused(
                    path: field, reason: "\(shown) is not a host device the operator allows a task (\(list(devicePaths)))",
                    allowedBy: Flag.device)
            }
        }
        var target = written
        if let containerPath = device.containerPath {
            guard let normalized = NormalizedPath(containerPath) else {
                throw .invalid(path: "\(path).containerPath", reason: "'\(containerPath)' is not an absolute path")
            }
            if let reason = Self.hostDeviceRefusal(normalized) {
                throw .refused(path: "\(path).containerPath", reason: "'\(containerPath)' \(reason)", allowedBy: nil)
            }
            target = normalized
        }
        let permissions = device.permissions ?? ["read", "write", "mknod"]
        let letters = [("read", "r"), ("write", "w"), ("mknod", "m")].filter { permissions.contains($0.0) }.map(\.1).joined()
        return PlannedDevice(hostPath: resolved.description, containerPath: target.description, cgroupPermissions: letters)
    }

    /// Why a device path is refused whatever the operator allows, or nil. Input devices reach a
    /// container only through its session's lease; a console terminal would let a session type
    /// into (TIOCSTI) or read the host's console; memory and port devices are the host's kernel.
    static func hostDeviceRefusal(_ path: NormalizedPath) -> String? {
        let inputs = "is or holds input devices; input devices come only from the session's lease (dockerLabels[\"\(DeviceRolesLabel.key)\"])"
        guard let first = path.components.first else { return inputs }
        guard first == "dev" else { return nil }
        guard path.components.count > 1 else { return inputs }
        let name = path.components[1]
        if name == "input" || name == "uinput" || name == "uhid" || name.hasPrefix("hidraw") { return inputs }
        if name.hasPrefix("tty") || name == "console" || name.hasPrefix("vcs") {
            return "is a terminal of the host's console; a session could type into it or read it"
        }
        if ["mem", "kmem", "port"].contains(name) { return "is the host's memory or I/O ports" }
        return nil
    }

    /// Runs `check` on the path as written, then on where it leads on the host (when that differs),
    /// and returns the latter: what Docker is then given.
    private func checkWrittenThenResolved(
        _ written: NormalizedPath, _ text: String, _ check: (NormalizedPath, String) throws(TaskDefinitionError) -> Void
    ) throws(TaskDefinitionError) -> NormalizedPath {
        try check(written, "'\(text)'")
        let resolved = NormalizedPath.resolvedOnHost(text) ?? written
        if resolved != written { try check(resolved, "'\(text)' (a link to \(resolved))") }
        return resolved
    }

    // MARK: Lists

    private var roots: [NormalizedPath] { allowedRoots.compactMap(NormalizedPath.init) }
    private var hostPaths: [NormalizedPath] { allowedHostPaths.compactMap(NormalizedPath.init) }
    private var devicePaths: [NormalizedPath] { allowedDevices.compactMap(NormalizedPath.init) }
    private var rootList: String { allowedRoots.isEmpty ? "none" : allowedRoots.joined(separator: ", ") }

    private func list<T: CustomStringConvertible>(_ items: [T]) -> String {
        items.isEmpty ? "none allowed" : "allowed: " + items.map(\.description).joined(separator: ", ")
    }
}

/// A host device a container's `linuxParameters.devices` names, as approved: the path Docker is
/// given (links already followed), where it appears, and the cgroup permissions (`rwm`).
public struct PlannedDevice: Sendable, Equatable, Codable {
    /// The device on the host, normalised and resolved.
    public var hostPath: String
    /// Where it appears in the container, normalised.
    public var containerPath: String
    /// `r`, `w`, `m`, from `permissions`.
    public var cgroupPermissions: String

    /// Creates the value from its fields.
    public init(hostPath: String, containerPath: String, cgroupPermissions: String) {
        self.hostPath = hostPath
        self.containerPath = containerPath
        self.cgroupPermissions = cgroupPermissions
    }
}
