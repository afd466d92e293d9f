import DeviceManager

/// A device node granted to a container: one of the session's leased nodes (or another node the
/// caller grants), mapped by path. Docker reads the node's numbers itself from `hostPath`;
/// `major` and `minor` travel along so the caller can check what it granted.
public struct ContainerDeviceNode: Sendable, Equatable, Hashable {
    /// The node on the host (`/dev/input/event7`).
    public var hostPath: String
    /// Where the node appears in the container; usually the same path.
    public var containerPath: String
    /// The node's device numbers.
    public var major: UInt32
    /// The node's device numbers.
    public var minor: UInt32
    /// Whether the node is made at the start; otherwise only its numbers are granted (a hot-plug
    /// slot: the node appears when the device is plugged in).
    public var present: Bool

    /// Creates the value from its fields.
    public init(hostPath: String, containerPath: String? = nil, major: UInt32, minor: UInt32, present: Bool = true) {
        self.hostPath = hostPath
        self.containerPath = containerPath ?? hostPath
        self.major = major
        self.minor = minor
        self.present = present
    }

    /// A leased node at the same path inside the container.
    public init(_ node: LeasedNode, present: Bool = true) {
        self.init(hostPath: node.path, major: node.major, minor: node.minor, present: present)
    }
}

/// What `POST /containers/create` needs: the `name` query parameter and the JSON body.
public struct ContainerCreation: Sendable, Equatable {
    /// `fractal-<FractalID>-<container name>`, sanitised for Docker.
    public var name: String
    /// The JSON body.
    public var request: ContainerCreateRequest
}

/// Why a container's create body could not be made from a plan and the caller's grants.
public enum ContainerCreationError: Error, Equatable, Sendable, CustomStringConvertible {
    case noSuchContainer(index: Int, count: Int)
    /// A planned directory the lease did not make where the plan put it.
    case directoryNotProvisioned(volume: String)
    case invalidDevice(path: String, reason: String)

    public var description: String {
        switch self {
        case .noSuchContainer(let index, let count):
            return "create container: no containerDefinitions[\(index)]; the task has \(count)"
        case .directoryNotProvisioned(let volume):
            return "create container: volume '\(volume)' names a FractalID directory, but the lease did not make it where the plan put it"
        case .invalidDevice(let path, let reason):
            return "create container: device '\(path)' \(reason)"
        }
    }
}

extension TaskPlan {
    /// Docker's create body for container `index` of this plan. Pure: touches nothing.
    ///
    /// - Parameters:
    ///   - devices: the device nodes granted to this container (its leased nodes); exactly these,
    ///     plus the task's own approved `linuxParameters.devices`, appear in `HostConfig.Devices`.
    ///     Binds come from the plan (``bindSources``): the lease must have made ``directories``.
    ///   - session: the lease's session socket and udev view, bound at `fractal.session-dir`
    ///     (default /run/fractal) and /run/udev, read-only.
    public func containerCreation(
        at index: Int, devices: [ContainerDeviceNode], session: SessionPaths? = nil
    ) throws(ContainerCreationError) -> ContainerCreation {
        guard containers.indices.contains(index) else { throw .noSuchContainer(index: index, count: containers.count) }
        let container = containers[index]
        let sessionDirectory = container.dockerLabels?[DeviceRolesLabel.sessionDirectoryKey] ?? DeviceRolesLabel.defaultSessionDirectory

        var host = ContainerCreateRequest.HostConfig(NetworkMode: networkMode.rawValue)
        var binds = binds(for: container)
        if let session {
            binds += ["\(session.socketDirectory):\(sessionDirectory):ro", "\(session.udevDirectory):/run/udev:ro"]
        }
        host.Binds = binds.nonEmpty
        host.Devices = try deviceMappings(for: index, granted: devices.filter(\.present)).nonEmpty
        // Hot-plug slots: the exact numbers, never a pattern, so no other lease's node opens.
        host.DeviceCgroupRules = devices.filter { !$0.present }.map { "c \($0.major):\($0.minor) rwm" }.nonEmpty

        let parameters = container.linuxParameters
        host.CapAdd = parameters?.capabilities?.add?.nonEmpty
        host.CapDrop = parameters?.capabilities?.drop?.nonEmpty
        host.Init = parameters?.initProcessEnabled
        host.ShmSize = parameters?.sharedMemorySize.map(Self.bytes(mebibytes:))
        host.Tmpfs = parameters?.tmpfs.map { mounts in
            Dictionary(
                mounts.map { ($0.containerPath, (["size=\($0.size)m"] + ($0.mountOptions ?? [])).joined(separator: ",")) },
                uniquingKeysWith: { _, last in last })
        }?.nonEmpty

        // A single-container task carries the task-level caps (validation refuses them otherwise).
        let singleContainer = containers.count == 1
        let taskMemory = singleContainer ? definition.memory?.mebibytes : nil
        host.Memory = (container.memory ?? taskMemory).map(Self.bytes(mebibytes:))
        host.MemoryReservation = container.memoryReservation.map(Self.bytes(mebibytes:))
        // ECS's cpu is a relative weight. ECS passes 0 as 2 shares; fractal-agent leaves Docker's
        // default instead, so a session is not starved behind every host service.
        if let cpu = container.cpu, cpu > 0 { host.CpuShares = max(cpu, 2) }
        if singleContainer, let units = definition.cpu?.cpuUnits {
            host.NanoCpus = Int64(units) * 1_000_000_000 / 1024
        }
        host.Ulimits = container.ulimits?.map { .init(Name: $0.name, Soft: $0.softLimit, Hard: $0.hardLimit) }.nonEmpty
        host.ReadonlyRootfs = container.readonlyRootFilesystem
        host.SecurityOpt = container.dockerSecurityOptions?.nonEmpty
        host.ExtraHosts = container.extraHosts?.map { "\($0.hostname):\($0.ipAddress)" }.nonEmpty
        host.Dns = container.dnsServers?.nonEmpty
        host.DnsSearch = container.dnsSearchDomains?.nonEmpty
        host.Sysctls = container.systemControls.map {
            Dictionary($0.map { ($0.namespace, $0.value) }, uniquingKeysWith: { _, last in last })
        }?.nonEmpty
        host.LogConfig = container.logConfiguration.map { .init(Type: $0.logDriver, Config: $0.options) }

        var request = ContainerCreateRequest(Image: container.image, HostConfig: host)
        request.Cmd = container.command
        request.Entrypoint = container.entryPoint
        request.Env = (container.environment ?? []).map { "\($0.name)=\($0.value)" }
            + ["\(ContainerEnvironment.fractalID)=\(id.rawValue)"]
            + (session == nil ? [] : ["\(ContainerEnvironment.sessionSocket)=\(sessionDirectory)/input.sock"])
        var labels = container.dockerLabels ?? [:]
        labels[ContainerLabel.id] = id.rawValue
        labels[ContainerLabel.task] = family
        labels[ContainerLabel.container] = container.name
        request.Labels = labels
        request.User = container.user
        request.WorkingDir = container.workingDirectory
        request.Hostname = container.hostname
        request.Tty = container.pseudoTerminal
        request.OpenStdin = container.interactive
        request.NetworkDisabled = container.disableNetworking
        request.StopTimeout = container.stopTimeout
        request.Healthcheck = container.healthCheck.map(Self.healthConfig)
        applyPorts(container, to: &request)

        return ContainerCreation(name: DockerName.container(id: id.rawValue, container: container.name), request: request)
    }

    static func bytes(mebibytes: Int) -> Int64 { Int64(mebibytes) * 1024 * 1024 }

    /// ECS's defaults (30 s interval, 5 s timeout, 3 retries) made explicit: Docker's timeout default is 30 s.
    static func healthConfig(_ check: HealthCheck) -> ContainerCreateRequest.HealthConfig {
        let second: Int64 = 1_000_000_000
        return .init(
            Test: check.command,
            Interval: Int64(check.interval ?? 30) * second,
            Timeout: Int64(check.timeout ?? 5) * second,
            Retries: check.retries ?? 3,
            StartPeriod: check.startPeriod.map { Int64($0) * second })
    }

    private func binds(for container: ContainerDefinition) -> [String] {
        var binds: [String] = []
        for mount in container.mountPoints ?? [] {
            // Validation guarantees the volume exists and the path splits; the policy approved every source.
            guard let source = bindSources[mount.sourceVolume], let (target, propagation) = MountPropagation.split(mount.containerPath) else {
                continue
            }
            let options = (mount.readOnly == true ? ["ro"] : []) + (propagation.map { [$0.rawValue] } ?? [])
            let place = NormalizedPath(target)?.description ?? target
            binds.append(([source, place] + (options.isEmpty ? [] : [options.joined(separator: ",")])).joined(separator: ":"))
        }
        return binds
    }

    private func deviceMappings(
        for index: Int, granted: [ContainerDeviceNode]
    ) throws(ContainerCreationError) -> [ContainerCreateRequest.DeviceMapping] {
        var mappings: [ContainerCreateRequest.DeviceMapping] = []
        var seen: Set<String> = []
        for node in granted {
            for path in [node.hostPath, node.containerPath] where !path.hasPrefix("/dev/") {
                throw .invalidDevice(path: path, reason: "is not a path under /dev")
            }
            // Globs would widen the grant beyond the leased nodes.
            if node.hostPath.contains(where: { "*?[".contains($0) }) {
                throw .invalidDevice(path: node.hostPath, reason: "is a pattern; grant each node by its path")
            }
            guard seen.insert(node.containerPath).inserted else {
                throw .invalidDevice(path: node.containerPath, reason: "is granted twice")
            }
            mappings.append(.init(PathOnHost: node.hostPath, PathInContainer: node.containerPath, CgroupPermissions: "rwm"))
        }
        for device in containerDevices[index] {
            guard seen.insert(device.containerPath).inserted else {
                throw .invalidDevice(path: device.containerPath, reason: "is both granted from the lease and named in linuxParameters.devices")
            }
            mappings.append(.init(PathOnHost: device.hostPath, PathInContainer: device.containerPath, CgroupPermissions: device.cgroupPermissions))
        }
        return mappings
    }

    private func applyPorts(_ container: ContainerDefinition, to request: inout ContainerCreateRequest) {
        // Host mode shares the host's ports as they are; only bridge publishes.
        guard networkMode == .bridge, let mappings = container.portMappings, !mappings.isEmpty else { return }
        var exposed: [String: ContainerCreateRequest.EmptyObject] = [:]
        var bindings: [String: [ContainerCreateRequest.PortBinding]] = [:]
        for mapping in mappings {
            let key = "\(mapping.containerPort)/\(mapping.protocol ?? "tcp")"
            exposed[key] = .init()
            let hostPort = mapping.hostPort.flatMap { $0 == 0 ? nil : String($0) } ?? ""
            bindings[key, default: []].append(.init(HostPort: hostPort))
        }
        request.ExposedPorts = exposed
        request.HostConfig.PortBindings = bindings
    }
}

extension Collection {
    /// nil for an empty collection, so empty lists are not sent to Docker.
    var nonEmpty: Self? { isEmpty ? nil : self }
}
