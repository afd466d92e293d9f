import DeviceManager

extension TaskDefinition {
    /// Checks what decoding cannot: references between fields, allowed values, paths and limits.
    /// ``TaskDefinitionParser`` calls it; call it yourself on a definition built in code.
    public func validate() throws(TaskDefinitionError) {
        guard !family.isEmpty else { throw .invalid(path: "family", reason: "is empty") }
        let mode = try resolvedNetworkMode()
        try validateTaskSize()

        var volumeIndex: [String: Int] = [:]
        for (index, volume) in (volumes ?? []).enumerated() {
            let path = "volumes[\(index)]"
            try volume.validate(path: path)
            if let earlier = volumeIndex[volume.name] {
                throw .invalid(path: "\(path).name", reason: "'\(volume.name)' is also the name of volumes[\(earlier)]")
            }
            volumeIndex[volume.name] = index
        }

        guard !containerDefinitions.isEmpty else {
            throw .invalid(path: "containerDefinitions", reason: "is empty; a task needs at least one container")
        }
        var containerIndex: [String: Int] = [:]
        for (index, container) in containerDefinitions.enumerated() {
            let path = "containerDefinitions[\(index)]"
            try container.validate(path: path, volumes: Set(volumeIndex.keys), networkMode: mode)
            if let earlier = containerIndex[container.name] {
                throw .invalid(path: "\(path).name", reason: "'\(container.name)' is also the name of containerDefinitions[\(earlier)]")
            }
            containerIndex[container.name] = index
        }
    }

    /// The task's network mode, with fractal-agent's default.
    public func resolvedNetworkMode() throws(TaskDefinitionError) -> NetworkMode {
        guard let networkMode else { return .default }
        if networkMode == "awsvpc" {
            throw .unsupported(path: "networkMode", reason: "awsvpc needs AWS's network interfaces; use host, bridge or none")
        }
        guard let mode = NetworkMode(rawValue: networkMode) else {
            throw .invalid(path: "networkMode", reason: "'\(networkMode)' is not a network mode; use host, bridge or none")
        }
        return mode
    }

    private func validateTaskSize() throws(TaskDefinitionError) {
        if let cpu, cpu.cpuUnits == nil {
            throw .invalid(path: "cpu", reason: "'\(cpu)' is not a CPU size; write CPU units (\"1024\") or vCPUs (\"1 vCPU\")")
        }
        if let memory, memory.mebibytes == nil {
            throw .invalid(path: "memory", reason: "'\(memory)' is not a memory size; write MiB (\"2048\") or GB (\"2 GB\")")
        }
        // One container can carry the task's cap exactly; several would need a shared parent cgroup.
        if containerDefinitions.count > 1 {
            for (field, value) in [("cpu", cpu), ("memory", memory)] where value != nil {
                throw .unsupported(
                    path: field,
                    reason: "a task-level limit applies only to a single-container task; set containerDefinitions[].\(field) instead")
            }
        }
        if let taskMemory = memory?.mebibytes, containerDefinitions.count == 1 {
            let container = containerDefinitions[0]
            for (field, value) in [("memory", container.memory), ("memoryReservation", container.memoryReservation)] {
                if let value, value > taskMemory {
                    throw .invalid(
                        path: "containerDefinitions[0].\(field)",
                        reason: "is \(value) MiB, more than the task's memory (\(taskMemory) MiB)")
                }
            }
        }
    }
}

extension Volume {
    func validate(path: String) throws(TaskDefinitionError) {
        guard isValidName(name, maximumLength: 255) else {
            throw .invalid(path: "\(path).name", reason: "'\(name)' must be 1-255 letters, digits, '-' or '_'")
        }
        if host != nil && dockerVolumeConfiguration != nil {
            throw .invalid(path: path, reason: "sets both host and dockerVolumeConfiguration; a volume is one or the other")
        }
        if let sourcePath = host?.sourcePath {
            try validateHostPath(sourcePath, path: "\(path).host.sourcePath")
        }
        if let configuration = dockerVolumeConfiguration {
            if let scope = configuration.scope, scope != "task", scope != "shared" {
                throw .invalid(path: "\(path).dockerVolumeConfiguration.scope", reason: "'\(scope)' is not task or shared")
            }
            if configuration.autoprovision == true && configuration.scope != "shared" {
                throw .invalid(path: "\(path).dockerVolumeConfiguration.autoprovision", reason: "applies only to scope shared")
            }
        }
    }
}

extension ContainerDefinition {
    func validate(path: String, volumes: Set<String>, networkMode: NetworkMode) throws(TaskDefinitionError) {
        guard isValidName(name, maximumLength: 255) else {
            throw .invalid(path: "\(path).name", reason: "'\(name)' must be 1-255 letters, digits, '-' or '_'")
        }
        guard !image.isEmpty else { throw .invalid(path: "\(path).image", reason: "is empty") }

        for (index, variable) in (environment ?? []).enumerated() {
            let field = "\(path).environment[\(index)].name"
            guard !variable.name.isEmpty, !variable.name.contains("=") else {
                throw .invalid(path: field, reason: "'\(variable.name)' is not an environment variable name")
            }
            if variable.name == ContainerGrant.Environment.fractalID {
                throw .invalid(path: field, reason: "\(ContainerGrant.Environment.fractalID) is set by fractal-agent to the session's FractalID")
            }
        }

        if let labels = dockerLabels {
            for key in ContainerLabel.reserved where labels[key] != nil {
                throw .invalid(path: "\(path).dockerLabels[\"\(key)\"]", reason: "is set by fractal-agent")
            }
        }
        _ = try DeviceRolesLabel.roles(in: dockerLabels, path: "\(path).dockerLabels")

        var mountedPaths: [String: Int] = [:]
        for (index, mount) in (mountPoints ?? []).enumerated() {
            let field = "\(path).mountPoints[\(index)]"
            guard volumes.contains(mount.sourceVolume) else {
                throw .invalid(path: "\(field).sourceVolume", reason: "names no volume '\(mount.sourceVolume)'")
            }
            guard let (target, _) = MountPropagation.split(mount.containerPath) else {
                throw .invalid(
                    path: "\(field).containerPath",
                    reason: "'\(mount.containerPath)' has a ':' suffix that is not a propagation mode (rshared, rslave, ...)")
            }
            try validateContainerPath(target, path: "\(field).containerPath")
            // One spelling per place: '/data' and '/data/' are one mount point to Docker.
            let place = NormalizedPath(target)?.description ?? target
            if place == "/" {
                throw .invalid(path: "\(field).containerPath", reason: "'\(target)' is the container's root; mount below it")
            }
            if let earlier = mountedPaths[place] {
                throw .invalid(path: "\(field).containerPath", reason: "'\(target)' is also the path of mountPoints[\(earlier)]")
            }
            mountedPaths[place] = index
        }

        if let linuxParameters { try linuxParameters.validate(path: "\(path).linuxParameters") }

        if let memory, memory < 6 {
            throw .invalid(path: "\(path).memory", reason: "is \(memory) MiB; Docker needs at least 6")
        }
        if let memoryReservation {
            if memoryReservation < 6 {
                throw .invalid(path: "\(path).memoryReservation", reason: "is \(memoryReservation) MiB; Docker needs at least 6")
            }
            if let memory, memoryReservation > memory {
                throw .invalid(path: "\(path).memoryReservation", reason: "(\(memoryReservation) MiB) is more than memory (\(memory) MiB)")
            }
        }
        if let cpu, cpu < 0 { throw .invalid(path: "\(path).cpu", reason: "is negative") }
        if let stopTimeout, stopTimeout < 0 { throw .invalid(path: "\(path).stopTimeout", reason: "is negative") }

        for (index, limit) in (ulimits ?? []).enumerated() {
            let field = "\(path).ulimits[\(index)]"
            guard Ulimit.names.contains(limit.name) else {
                throw .invalid(path: "\(field).name", reason: "'\(limit.name)' is not a ulimit; use one of \(Ulimit.names.joined(separator: ", "))")
            }
            if limit.softLimit > limit.hardLimit {
                throw .invalid(path: "\(field).softLimit", reason: "(\(limit.softLimit)) is more than hardLimit (\(limit.hardLimit))")
            }
        }

        try validatePorts(path: path, networkMode: networkMode)

        if hostname != nil && networkMode == .host {
            throw .invalid(path: "\(path).hostname", reason: "cannot be set with networkMode host; the container has the host's name")
        }
        if let healthCheck {
            let allowed = ["CMD", "CMD-SHELL", "NONE"]
            guard let first = healthCheck.command.first, allowed.contains(first) else {
                throw .invalid(path: "\(path).healthCheck.command", reason: "must start with CMD, CMD-SHELL or NONE")
            }
        }
        if let logConfiguration, !LogConfiguration.supportedDrivers.contains(logConfiguration.logDriver) {
            throw .unsupported(
                path: "\(path).logConfiguration.logDriver",
                reason: "'\(logConfiguration.logDriver)' is not built into dockerd; use one of \(LogConfiguration.supportedDrivers.joined(separator: ", "))")
        }
    }

    private func validatePorts(path: String, networkMode: NetworkMode) throws(TaskDefinitionError) {
        guard let portMappings, !portMappings.isEmpty else { return }
        if networkMode == .none {
            throw .invalid(
                path: "\(path).portMappings",
                reason: "need networkMode bridge or host; this task's network mode is none (fractal-agent's default when networkMode is absent)")
        }
        for (index, mapping) in portMappings.enumerated() {
            let field = "\(path).portMappings[\(index)]"
            guard (1...65535).contains(mapping.containerPort) else {
                throw .invalid(path: "\(field).containerPort", reason: "\(mapping.containerPort) is not a port")
            }
            if let hostPort = mapping.hostPort {
                guard (0...65535).contains(hostPort) else { throw .invalid(path: "\(field).hostPort", reason: "\(hostPort) is not a port") }
                if networkMode == .host && hostPort != 0 && hostPort != mapping.containerPort {
                    throw .invalid(path: "\(field).hostPort", reason: "must equal containerPort with networkMode host")
                }
            }
            if let proto = mapping.protocol, proto != "tcp", proto != "udp" {
                throw .invalid(path: "\(field).protocol", reason: "'\(proto)' is not tcp or udp")
            }
        }
    }
}

extension LinuxParameters {
    func validate(path: String) throws(TaskDefinitionError) {
        // Which devices a task may have is the operator's TaskPolicy, checked on normalised paths.
        for (index, device) in (devices ?? []).enumerated() {
            let field = "\(path).devices[\(index)]"
            try validateDevicePath(device.hostPath, path: "\(field).hostPath")
            if let containerPath = device.containerPath {
                try validateDevicePath(containerPath, path: "\(field).containerPath")
            }
            for permission in device.permissions ?? [] where !["read", "write", "mknod"].contains(permission) {
                throw .invalid(path: "\(field).permissions", reason: "'\(permission)' is not read, write or mknod")
            }
        }
        for (list, field) in [(capabilities?.add, "add"), (capabilities?.drop, "drop")] {
            for (index, name) in (list ?? []).enumerated() {
                let valid = !name.isEmpty && name.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
                if !valid {
                    throw .invalid(path: "\(path).capabilities.\(field)[\(index)]", reason: "'\(name)' is not a capability name such as SYS_NICE")
                }
            }
        }
        if let sharedMemorySize, sharedMemorySize <= 0 {
            throw .invalid(path: "\(path).sharedMemorySize", reason: "must be a positive number of MiB")
        }
        for (index, mount) in (tmpfs ?? []).enumerated() {
            try validateContainerPath(mount.containerPath, path: "\(path).tmpfs[\(index)].containerPath")
            if mount.size <= 0 {
                throw .invalid(path: "\(path).tmpfs[\(index)].size", reason: "must be a positive number of MiB")
            }
            for (optionIndex, option) in (mount.mountOptions ?? []).enumerated() where option.isEmpty || option.contains(",") {
                throw .invalid(path: "\(path).tmpfs[\(index)].mountOptions[\(optionIndex)]", reason: "'\(option)' is not one mount option")
            }
        }
    }
}

extension Ulimit {
    /// The names ECS accepts (Docker's, without the `RLIMIT_` prefix).
    public static let names = [
        "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
        "rtprio", "rttime", "sigpending", "stack",
    ]
}

/// Names ECS allows for containers and volumes: letters, digits, `-` and `_`.
func isValidName(_ name: String, maximumLength: Int) -> Bool {
    !name.isEmpty && name.utf8.count <= maximumLength
        && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }
}

/// An absolute host path with no `..` component (placeholders allowed; they become one component).
/// `..` is refused rather than normalised: behind a link or a placeholder it means another place.
/// `//`, `.` and a trailing `/` are normalised away by ``TaskPolicy``.
func validateHostPath(_ text: String, path: String) throws(TaskDefinitionError) {
    guard text.hasPrefix("/") else { throw .invalid(path: path, reason: "'\(text)' is not an absolute path") }
    if text.split(separator: "/").contains("..") {
        throw .invalid(path: path, reason: "'\(text)' has a '..' component; write the path without it")
    }
    if text.contains(":") || text.contains("\0") {
        throw .invalid(path: path, reason: "'\(text)' has a ':' or NUL, which Docker's bind syntax cannot carry")
    }
}

/// An absolute device path without NUL or a pattern; ``TaskPolicy`` normalises it (`..` too,
/// so `/dev/input/../uinput` is refused as `/dev/uinput`) and decides whether it is allowed.
func validateDevicePath(_ text: String, path: String) throws(TaskDefinitionError) {
    guard text.hasPrefix("/") else { throw .invalid(path: path, reason: "'\(text)' is not an absolute path") }
    if text.contains("\0") || text.contains(where: { "*?[".contains($0) }) {
        throw .invalid(path: path, reason: "'\(text)' has a NUL or a pattern; name each device by its path")
    }
}

/// An absolute path inside the container with no `..` component and no `:`.
func validateContainerPath(_ text: String, path: String) throws(TaskDefinitionError) {
    guard text.hasPrefix("/") else { throw .invalid(path: path, reason: "'\(text)' is not an absolute path") }
    if text.split(separator: "/").contains("..") {
        throw .invalid(path: path, reason: "'\(text)' has a '..' component")
    }
    if text.contains(":") || text.contains("\0") {
        throw .invalid(path: path, reason: "'\(text)' has a ':' or NUL, which Docker's bind syntax cannot carry")
    }
}
