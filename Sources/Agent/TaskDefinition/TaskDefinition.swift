/// An ECS task definition, in ECS's own JSON shape (`RegisterTaskDefinition`, or the
/// `taskDefinition` object `aws ecs describe-task-definition` prints). Field names are ECS's.
///
/// Only what fractal-agent acts on is modelled; other fields ECS defines are either ignored
/// (scheduling and IAM fields) or refused by ``TaskDefinitionParser`` when running the task
/// without them would be wrong. Unknown fields are ignored.
public struct TaskDefinition: Codable, Sendable, Equatable {
    public var family: String
    public var containerDefinitions: [ContainerDefinition]
    public var volumes: [Volume]?
    /// `host`, `none` or `bridge`; fractal-agent defaults to `none` when absent (see ``NetworkMode``).
    public var networkMode: String?
    /// Task-level CPU units (`"1024"` or `"1 vCPU"`): a hard cap, applied to a single-container task.
    public var cpu: ECSSize?
    /// Task-level memory in MiB (`"2048"` or `"2 GB"`): a hard cap, applied to a single-container task.
    public var memory: ECSSize?

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
    public var text: String

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
    public var name: String
    public var image: String
    public var command: [String]?
    public var entryPoint: [String]?
    public var environment: [KeyValuePair]?
    public var mountPoints: [MountPoint]?
    public var linuxParameters: LinuxParameters?
    /// Hard memory limit, MiB.
    public var memory: Int?
    /// Soft memory limit, MiB.
    public var memoryReservation: Int?
    /// Relative CPU weight in CPU units (1024 = one CPU's worth), as Docker CPU shares.
    public var cpu: Int?
    public var user: String?
    public var workingDirectory: String?
    public var dockerLabels: [String: String]?
    public var ulimits: [Ulimit]?
    /// Whether the task stops when this container stops; ECS's default is true.
    public var essential: Bool?
    public var portMappings: [PortMapping]?
    public var healthCheck: HealthCheck?
    public var hostname: String?
    public var readonlyRootFilesystem: Bool?
    /// Seconds between SIGTERM and SIGKILL when the container is stopped.
    public var stopTimeout: Int?
    public var interactive: Bool?
    public var pseudoTerminal: Bool?
    public var disableNetworking: Bool?
    public var extraHosts: [HostEntry]?
    public var dnsServers: [String]?
    public var dnsSearchDomains: [String]?
    public var dockerSecurityOptions: [String]?
    public var systemControls: [SystemControl]?
    public var logConfiguration: LogConfiguration?
    /// Only `false` (or absent) is accepted: a privileged container sees every host device.
    public var privileged: Bool?

    public init(name: String, image: String) {
        self.name = name
        self.image = image
    }

    /// ECS's rule: a container is essential unless it says otherwise.
    public var isEssential: Bool { essential ?? true }
}

/// `{"name": ..., "value": ...}`, as in `environment`.
public struct KeyValuePair: Codable, Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `mountPoints[]`: a task volume mounted into the container.
public struct MountPoint: Codable, Sendable, Equatable {
    public var sourceVolume: String
    /// The path inside the container. A trailing `:rshared` (or another propagation mode) is
    /// accepted, as the ECS agent passes it through to Docker; see ``MountPropagation``.
    public var containerPath: String
    public var readOnly: Bool?

    public init(sourceVolume: String, containerPath: String, readOnly: Bool? = nil) {
        self.sourceVolume = sourceVolume
        self.containerPath = containerPath
        self.readOnly = readOnly
    }
}

/// `linuxParameters`.
public struct LinuxParameters: Codable, Sendable, Equatable {
    public var capabilities: KernelCapabilities?
    public var devices: [Device]?
    public var initProcessEnabled: Bool?
    /// `/dev/shm` size, MiB.
    public var sharedMemorySize: Int?
    public var tmpfs: [Tmpfs]?

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
    public var add: [String]?
    public var drop: [String]?

    public init(add: [String]? = nil, drop: [String]? = nil) {
        self.add = add
        self.drop = drop
    }
}

/// `linuxParameters.devices[]`: a host device the task asks for by path.
public struct Device: Codable, Sendable, Equatable {
    public var hostPath: String
    public var containerPath: String?
    /// `read`, `write`, `mknod`; all three when absent.
    public var permissions: [String]?

    public init(hostPath: String, containerPath: String? = nil, permissions: [String]? = nil) {
        self.hostPath = hostPath
        self.containerPath = containerPath
        self.permissions = permissions
    }
}

/// `linuxParameters.tmpfs[]`.
public struct Tmpfs: Codable, Sendable, Equatable {
    public var containerPath: String
    /// MiB.
    public var size: Int
    public var mountOptions: [String]?

    public init(containerPath: String, size: Int, mountOptions: [String]? = nil) {
        self.containerPath = containerPath
        self.size = size
        self.mountOptions = mountOptions
    }
}

/// `ulimits[]`.
public struct Ulimit: Codable, Sendable, Equatable {
    public var name: String
    public var softLimit: Int
    public var hardLimit: Int

    public init(name: String, softLimit: Int, hardLimit: Int) {
        self.name = name
        self.softLimit = softLimit
        self.hardLimit = hardLimit
    }
}

/// `portMappings[]`.
public struct PortMapping: Codable, Sendable, Equatable {
    public var containerPort: Int
    /// Absent or 0: Docker picks a free port (bridge mode).
    public var hostPort: Int?
    /// `tcp` (the default) or `udp`.
    public var `protocol`: String?

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
    public var interval: Int?
    public var timeout: Int?
    public var retries: Int?
    public var startPeriod: Int?

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
    public var hostname: String
    public var ipAddress: String

    public init(hostname: String, ipAddress: String) {
        self.hostname = hostname
        self.ipAddress = ipAddress
    }
}

/// `systemControls[]`: a namespaced sysctl.
public struct SystemControl: Codable, Sendable, Equatable {
    public var namespace: String
    public var value: String

    public init(namespace: String, value: String) {
        self.namespace = namespace
        self.value = value
    }
}

/// `logConfiguration`; only drivers dockerd has on every host are accepted.
public struct LogConfiguration: Codable, Sendable, Equatable {
    public var logDriver: String
    public var options: [String: String]?

    public init(logDriver: String, options: [String: String]? = nil) {
        self.logDriver = logDriver
        self.options = options
    }

    /// Log drivers built into dockerd that need nothing from AWS.
    public static let supportedDrivers: [String] = ["json-file", "local", "journald", "syslog", "none"]
}

/// `volumes[]`: a host path, a Docker-managed volume, or a kind fractal-agent refuses (EFS, FSx).
public struct Volume: Codable, Sendable, Equatable {
    public var name: String
    public var host: HostVolumeProperties?
    public var dockerVolumeConfiguration: DockerVolumeConfiguration?

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

    public init(sourcePath: String? = nil) { self.sourcePath = sourcePath }
}

/// `volumes[].dockerVolumeConfiguration`.
public struct DockerVolumeConfiguration: Codable, Sendable, Equatable {
    /// `task` (the default: made for the task, removed with it) or `shared` (outlives it).
    public var scope: String?
    /// For shared volumes: create it when missing; when false (ECS's default) it must already exist.
    public var autoprovision: Bool?
    public var driver: String?
    public var driverOpts: [String: String]?
    public var labels: [String: String]?

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
