/// An ECS task definition, in ECS's own JSON shape (`RegisterTaskDefinition`, or the
/// `taskDefinition` object `aws ecs describe-task-definition` prints). Field names are ECS's.
///
/// Only what fractal-agent acts on is modelled; other fields ECS defines are either ignored
/// (scheduling and IAM fields) or refused by ``TaskDefinitionParser`` when running the task
/// without them would be wrong. Unknown fields are ignored.
public struct TaskDefinition: Codable, Sendable, Equatable {
    /// The task's name; every revision of a task shares it.
    public var family: String
    /// The containers, started in this order.
    public var containerDefinitions: [ContainerDefinition]
    /// Volumes the containers mount by name through `mountPoints`.
    public var volumes: [Volume]?
    /// `host`, `none` or `bridge`; fractal-agent defaults to `none` when absent (see ``NetworkMode``).
    public var networkMode: String?
    /// Task-level CPU units (`"1024"` or `"1 vCPU"`): a hard cap, applied to a single-container task.
    public var cpu: ECSSize?
    /// Task-level memory in MiB (`"2048"` or `"2 GB"`): a hard cap, applied to a single-container task.
    public var memory: ECSSize?

    /// Creates the value from its ECS fields.
    public init(
        family: String, containerDefinitions: [ContainerDefinition], volumes: [Volume]? = nil,
        networkMode: String? = nil, cpu: ECSSize? = nil, memory: ECSSize? = nil
    ) {
        self.family = family
        self.containerDefinitions = containerDefinitions
        self.volumes = volumes
        self.networkMode = networkMode
        self.cpu = cpu
        self.memory = memory
    }
}

/// A task-level size, which ECS writes as a string (`"1024"`, `"1 vCPU"`, `"2 GB"`) and some tools as a number.
public struct ECSSize: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The size as written.
    public var text: String

    /// Creates the value from its ECS fields.
    public init(_ text: String) { self.text = text }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            text = String(number)
        } else {
            text = try container.decode(String.self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    public var description: String { text }

    /// The value in `unit`s, where `suffixes` maps a written unit (lowercased, spaces removed)
    /// to how many `unit`s it is; a bare number is already in `unit`s.
    func value(suffixes: [String: Double]) -> Int? {
        let compact = text.lowercased().filter { !$0.isWhitespace }
        let number = compact.prefix { $0.isNumber || $0 == "." }
        let suffix = String(compact.dropFirst(number.count))
        guard let amount = Double(number), amount > 0 else { return nil }
        let scale = suffix.isEmpty ? 1 : suffixes[suffix]
        guard let scale else { return nil }
        let result = (amount * scale).rounded()
        guard result >= 1, result < Double(Int32.max) else { return nil }
        return Int(result)
    }

    /// CPU units (1024 = one CPU), from `"512"`, `"0.5 vCPU"` or `"1vcpu"`.
    public var cpuUnits: Int? { value(suffixes: ["vcpu": 1024, "vcpus": 1024]) }
    /// MiB, from `"2048"`, `"2 GB"` or `"2gb"` (ECS's GB is GiB).
    public var mebibytes: Int? { value(suffixes: ["gb": 1024, "mb": 1, "mib": 1, "gib": 1024]) }
}

/// One container of a task: `containerDefinitions[]`.
public struct ContainerDefinition: Codable, Sendable, Equatable {
    /// The container's name, unique in the task; part of its Docker name.
    public var name: String
    /// The image reference (`repo:tag` or `repo@digest`); it must be on the host or pullable.
    public var image: String
    /// Docker's `Cmd`; absent keeps the image's.
    public var command: [String]?
    /// Docker's `Entrypoint`; absent keeps the image's.
    public var entryPoint: [String]?
    /// Environment variables, in order; `FRACTAL_ID` is added by fractal-agent.
    public var environment: [KeyValuePair]?
    /// Task volumes mounted into the container.
    public var mountPoints: [MountPoint]?
    /// Devices, capabilities, init, `/dev/shm` and tmpfs mounts.
    public var linuxParameters: LinuxParameters?
    /// Hard memory limit, MiB.
    public var memory: Int?
    /// Soft memory limit, MiB.
    public var memoryReservation: Int?
    /// Relative CPU weight in CPU units (1024 = one CPU's worth), as Docker CPU shares.
    public var cpu: Int?
    /// `user`, `user:group`, `uid` or `uid:gid`.
    public var user: String?
    /// The working directory of the container's command.
    public var workingDirectory: String?
    /// Labels for the container; `fractal.devices` also says which input devices it gets.
    public var dockerLabels: [String: String]?
    /// Resource limits for the container's processes.
    public var ulimits: [Ulimit]?
    /// Whether the task stops when this container stops; ECS's default is true.
    public var essential: Bool?
    /// Ports to publish (bridge) or that the container uses (host).
    public var portMappings: [PortMapping]?
    /// Docker's health check, times in seconds.
    public var healthCheck: HealthCheck?
    /// The container's hostname (not with networkMode host).
    public var hostname: String?
    /// Mount the image's filesystem read-only.
    public var readonlyRootFilesystem: Bool?
    /// Seconds between SIGTERM and SIGKILL when the container is stopped.
    public var stopTimeout: Int?
    /// Keep stdin open (Docker's `OpenStdin`).
    public var interactive: Bool?
    /// Allocate a terminal (Docker's `Tty`).
    public var pseudoTerminal: Bool?
    /// No networking at all, whatever the network mode.
    public var disableNetworking: Bool?
    /// Extra `/etc/hosts` entries.
    public var extraHosts: [HostEntry]?
    /// DNS servers for the container.
    public var dnsServers: [String]?
    /// DNS search domains for the container.
    public var dnsSearchDomains: [String]?
    /// Docker's `SecurityOpt` (`no-new-privileges`, `apparmor:...`, `seccomp:...`).
    public var dockerSecurityOptions: [String]?
    /// Namespaced sysctls.
    public var systemControls: [SystemControl]?
    /// Where the container's output goes.
    public var logConfiguration: LogConfiguration?
    /// Only `false` (or absent) is accepted: a privileged container sees every host device.
    public var privileged: Bool?

    /// Creates the value from its ECS fields.
    public init(name: String, image: String) {
        self.name = name
        self.image = image
    }

    /// ECS's rule: a container is essential unless it says otherwise.
    public var isEssential: Bool { essential ?? true }
}

/// `{"name": ..., "value": ...}`, as in `environment`.
public struct KeyValuePair: Codable, Sendable, Equatable {
    /// The variable's name.
    public var name: String
    /// The variable's value.
    public var value: String

    /// Creates the value from its ECS fields.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `mountPoints[]`: a task volume mounted into the container.
public struct MountPoint: Codable, Sendable, Equatable {
    /// The `volumes[].name` to mount.
    public var sourceVolume: String
    /// The path inside the container. A trailing `:rshared` (or another propagation mode) is
    /// accepted, as the ECS agent passes it through to Docker; see ``MountPropagation``.
    public var containerPath: String
    /// Mount read-only.
    public var readOnly: Bool?

    /// Creates the value from its ECS fields.
    public init(sourceVolume: String, containerPath: String, readOnly: Bool? = nil) {
        self.sourceVolume = sourceVolume
        self.containerPath = containerPath
        self.readOnly = readOnly
    }
}

/// `linuxParameters`.
public struct LinuxParameters: Codable, Sendable, Equatable {
    /// Kernel capabilities to add or drop.
    public var capabilities: KernelCapabilities?
    /// Host devices the task asks for by path; input devices are refused (they come from the lease).
    public var devices: [Device]?
    /// Run an init process (Docker's `--init`) as PID 1 to reap zombies.
    public var initProcessEnabled: Bool?
    /// `/dev/shm` size, MiB.
    public var sharedMemorySize: Int?
    /// tmpfs mounts, sizes in MiB.
    public var tmpfs: [Tmpfs]?

    /// Creates the value from its ECS fields.
    public init(
        capabilities: KernelCapabilities? = nil, devices: [Device]? = nil, initProcessEnabled: Bool? = nil,
        sharedMemorySize: Int? = nil, tmpfs: [Tmpfs]? = nil
    ) {
        self.capabilities = capabilities
        self.devices = devices
        self.initProcessEnabled = initProcessEnabled
        self.sharedMemorySize = sharedMemorySize
        self.tmpfs = tmpfs
    }
}

/// `linuxParameters.capabilities`: names as ECS writes them (`SYS_NICE`, `ALL`).
public struct KernelCapabilities: Codable, Sendable, Equatable {
    /// Capabilities to add.
    public var add: [String]?
    /// Capabilities to drop (`ALL` for every one).
    public var drop: [String]?

    /// Creates the value from its ECS fields.
    public init(add: [String]? = nil, drop: [String]? = nil) {
        self.add = add
        self.drop = drop
    }
}

/// `linuxParameters.devices[]`: a host device the task asks for by path.
public struct Device: Codable, Sendable, Equatable {
    /// The device node (or a directory of them) on the host.
    public var hostPath: String
    /// Where the node appears in the container; absent means the host path.
    public var containerPath: String?
    /// `read`, `write`, `mknod`; all three when absent.
    public var permissions: [String]?

    /// Creates the value from its ECS fields.
    public init(hostPath: String, containerPath: String? = nil, permissions: [String]? = nil) {
        self.hostPath = hostPath
        self.containerPath = containerPath
        self.permissions = permissions
    }
}

/// `linuxParameters.tmpfs[]`.
public struct Tmpfs: Codable, Sendable, Equatable {
    /// Where the tmpfs is mounted.
    public var containerPath: String
    /// MiB.
    public var size: Int
    /// Mount options such as `noexec`, `nosuid`.
    public var mountOptions: [String]?

    /// Creates the value from its ECS fields.
    public init(containerPath: String, size: Int, mountOptions: [String]? = nil) {
        self.containerPath = containerPath
        self.size = size
        self.mountOptions = mountOptions
    }
}

/// `ulimits[]`.
public struct Ulimit: Codable, Sendable, Equatable {
    /// The limit's name (`nofile`, `memlock`, ...); see ``Ulimit/names``.
    public var name: String
    /// The soft limit.
    public var softLimit: Int
    /// The hard limit.
    public var hardLimit: Int

    /// Creates the value from its ECS fields.
    public init(name: String, softLimit: Int, hardLimit: Int) {
        self.name = name
        self.softLimit = softLimit
        self.hardLimit = hardLimit
    }
}

/// `portMappings[]`.
public struct PortMapping: Codable, Sendable, Equatable {
    /// The port inside the container.
    public var containerPort: Int
    /// Absent or 0: Docker picks a free port (bridge mode).
    public var hostPort: Int?
    /// `tcp` (the default) or `udp`.
    public var `protocol`: String?

    /// Creates the value from its ECS fields.
    public init(containerPort: Int, hostPort: Int? = nil, protocol: String? = nil) {
        self.containerPort = containerPort
        self.hostPort = hostPort
        self.protocol = `protocol`
    }
}

/// `healthCheck`: times in seconds, as ECS writes them.
public struct HealthCheck: Codable, Sendable, Equatable {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`, as Docker takes it.
    public var command: [String]
    /// Seconds between checks (default 30).
    public var interval: Int?
    /// Seconds a check may take (default 5).
    public var timeout: Int?
    /// Consecutive failures before the container is unhealthy (default 3).
    public var retries: Int?
    /// Seconds of grace after start before failures count.
    public var startPeriod: Int?

    /// Creates the value from its ECS fields.
    public init(command: [String], interval: Int? = nil, timeout: Int? = nil, retries: Int? = nil, startPeriod: Int? = nil) {
        self.command = command
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
    }
}

/// `extraHosts[]`: an `/etc/hosts` entry.
public struct HostEntry: Codable, Sendable, Equatable {
    /// The name to add.
    public var hostname: String
    /// The address the name resolves to.
    public var ipAddress: String

    /// Creates the value from its ECS fields.
    public init(hostname: String, ipAddress: String) {
        self.hostname = hostname
        self.ipAddress = ipAddress
    }
}

/// `systemControls[]`: a namespaced sysctl.
public struct SystemControl: Codable, Sendable, Equatable {
    /// The sysctl's name (`net.core.somaxconn`).
    public var namespace: String
    /// The sysctl's value.
    public var value: String

    /// Creates the value from its ECS fields.
    public init(namespace: String, value: String) {
        self.namespace = namespace
        self.value = value
    }
}

/// `logConfiguration`; only drivers dockerd has on every host are accepted.
public struct LogConfiguration: Codable, Sendable, Equatable {
    /// The log driver.
    public var logDriver: String
    /// The driver's options.
    public var options: [String: String]?

    /// Creates the value from its ECS fields.
    public init(logDriver: String, options: [String: String]? = nil) {
        self.logDriver = logDriver
        self.options = options
    }

    /// Log drivers built into dockerd that need nothing from AWS.
    public static let supportedDrivers: [String] = ["json-file", "local", "journald", "syslog", "none"]
}

/// `volumes[]`: a host path, a Docker-managed volume, or a kind fractal-agent refuses (EFS, FSx).
public struct Volume: Codable, Sendable, Equatable {
    /// The name `mountPoints[].sourceVolume` refers to.
    public var name: String
    /// A host path to bind (with `sourcePath`), or a Docker-managed volume (without).
    public var host: HostVolumeProperties?
    /// A Docker volume with a driver, options and a scope.
    public var dockerVolumeConfiguration: DockerVolumeConfiguration?

    /// Creates the value from its ECS fields.
    public init(name: String, host: HostVolumeProperties? = nil, dockerVolumeConfiguration: DockerVolumeConfiguration? = nil) {
        self.name = name
        self.host = host
        self.dockerVolumeConfiguration = dockerVolumeConfiguration
    }
}

/// `volumes[].host`.
public struct HostVolumeProperties: Codable, Sendable, Equatable {
    /// Absent: ECS makes a Docker-managed volume for the task instead of a bind mount.
    public var sourcePath: String?

    /// Creates the value from its ECS fields.
    public init(sourcePath: String? = nil) { self.sourcePath = sourcePath }
}

/// `volumes[].dockerVolumeConfiguration`.
public struct DockerVolumeConfiguration: Codable, Sendable, Equatable {
    /// `task` (the default: made for the task, removed with it) or `shared` (outlives it).
    public var scope: String?
    /// For shared volumes: create it when missing; when false (ECS's default) it must already exist.
    public var autoprovision: Bool?
    /// The volume driver; absent means `local`.
    public var driver: String?
    /// Options for the driver.
    public var driverOpts: [String: String]?
    /// Labels for the volume.
    public var labels: [String: String]?

    /// Creates the value from its ECS fields.
    public init(
        scope: String? = nil, autoprovision: Bool? = nil, driver: String? = nil,
        driverOpts: [String: String]? = nil, labels: [String: String]? = nil
    ) {
        self.scope = scope
        self.autoprovision = autoprovision
        self.driver = driver
        self.driverOpts = driverOpts
        self.labels = labels
    }
}
