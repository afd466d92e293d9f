import DeviceManager

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
    /// What container `index` gets of `lease`: the devices its `fractal.devices` and
    /// `fractal.hotplug` labels name, the session socket where `fractal.session-dir` says. The
    /// lease's directories are bound where the task's mount points say, not at their own paths.
    public func grant(at index: Int, lease: Lease) -> ContainerGrant {
        let known = containers.indices.contains(index)
        let labels = known ? containers[index].dockerLabels : nil
        let roles = known ? Set(containerDeviceRoles[index]).union(containerHotplugRoles[index]) : []
        return ContainerGrant(
            lease: lease, roles: roles, directories: false,
            sessionDirectory: labels?[DeviceRolesLabel.sessionDirectoryKey] ?? ContainerGrant.defaultSessionDirectory)
    }

    /// Docker's create body for container `index` of this plan. Pure: touches nothing.
    ///
    /// - Parameter grant: what the container gets of its lease (``grant(at:lease:)``): exactly its
    ///   present nodes, plus the task's own approved `linuxParameters.devices`, appear in
    ///   `HostConfig.Devices`; its slots become device-cgroup rules; its mounts (the session socket
    ///   and udev view, read-only), environment and labels are added to the task's own. The task's
    ///   binds come from the plan (``bindSources``): the lease must have made ``directories``.
    public func containerCreation(at index: Int, grant: ContainerGrant) throws(ContainerCreationError) -> ContainerCreation {
        guard containers.indices.contains(index) else { throw .noSuchContainer(index: index, count: containers.count) }
        let container = containers[index]

        var host = ContainerCreateRequest.HostConfig(NetworkMode: networkMode.rawValue)
        host.Binds = (binds(for: container) + grant.mounts.map(Self.bind)).nonEmpty
        host.Devices = try deviceMappings(for: index, granted: grant.presentNodes).nonEmpty
        // Hot-plug slots: the exact numbers, never a pattern, so no other lease's node opens.
        host.DeviceCgroupRules = grant.slotNodes.map(\.cgroupRule).nonEmpty

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
        request.Env = (container.environment ?? []).map { "\($0.name)=\($0.value)" } + grant.environment.map(\.assignment)
        var labels = container.dockerLabels ?? [:]
        labels.merge(grant.labels) { _, granted in granted }
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

    /// `host-src:container-dest[:ro]`.
    static func bind(_ mount: ContainerGrant.Mount) -> String {
        "\(mount.hostPath):\(mount.containerPath)" + (mount.readOnly ? ":ro" : "")
    }

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
        for index: Int, granted: [ContainerGrant.Node]
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
            mappings.append(.init(PathOnHost: node.hostPath, PathInContainer: node.containerPath, CgroupPermissions: ContainerGrant.Node.permissions))
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
