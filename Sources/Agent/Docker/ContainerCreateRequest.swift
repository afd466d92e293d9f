/// The body of Docker Engine's `POST /containers/create`, field names exactly as Docker's API
/// spells them. Optional fields left nil are not sent, so Docker's defaults apply.
public struct ContainerCreateRequest: Codable, Sendable, Equatable {
    public var Image: String
    public var Cmd: [String]?
    public var Entrypoint: [String]?
    public var Env: [String]?
    public var Labels: [String: String]?
    public var User: String?
    public var WorkingDir: String?
    public var Hostname: String?
    public var Tty: Bool?
    public var OpenStdin: Bool?
    public var NetworkDisabled: Bool?
    /// Seconds between SIGTERM and SIGKILL on stop.
    public var StopTimeout: Int?
    public var Healthcheck: HealthConfig?
    /// `"80/tcp": {}` for each published port.
    public var ExposedPorts: [String: EmptyObject]?
    public var HostConfig: HostConfig

    /// Creates the value from its fields.
    public init(Image: String, HostConfig: HostConfig) {
        self.Image = Image
        self.HostConfig = HostConfig
    }

    /// `HostConfig`: what the container may touch on the host.
    public struct HostConfig: Codable, Sendable, Equatable {
        /// `host-src:container-dest[:options]`.
        public var Binds: [String]?
        public var Devices: [DeviceMapping]?
        /// `c MAJOR:MINOR rwm`: device numbers granted without a node (hot-plug slots).
        public var DeviceCgroupRules: [String]?
        public var CapAdd: [String]?
        public var CapDrop: [String]?
        public var Init: Bool?
        /// Bytes.
        public var ShmSize: Int64?
        /// Container path to mount options (`size=50m,noexec`).
        public var Tmpfs: [String: String]?
        /// Bytes.
        public var Memory: Int64?
        /// Bytes.
        public var MemoryReservation: Int64?
        /// Relative CPU weight (Docker's default is 1024).
        public var CpuShares: Int?
        /// A hard CPU cap in billionths of a CPU.
        public var NanoCpus: Int64?
        public var Ulimits: [UlimitSetting]?
        public var NetworkMode: String
        public var PortBindings: [String: [PortBinding]]?
        /// Kept false: the daemon reads a stopped container's state before removing it itself.
        public var AutoRemove: Bool
        public var Privileged: Bool?
        public var ReadonlyRootfs: Bool?
        public var SecurityOpt: [String]?
        public var ExtraHosts: [String]?
        public var Dns: [String]?
        public var DnsSearch: [String]?
        public var Sysctls: [String: String]?
        public var LogConfig: LogSettings?

        /// Creates the value from its fields.
        public init(NetworkMode: String) {
            self.NetworkMode = NetworkMode
            self.AutoRemove = false
        }
    }

    /// `HostConfig.Devices[]`: one device node, never a pattern.
    public struct DeviceMapping: Codable, Sendable, Equatable, Hashable {
        public var PathOnHost: String
        public var PathInContainer: String
        /// `r`, `w` and `m` (mknod) in any combination.
        public var CgroupPermissions: String

        /// Creates the value from its fields.
        public init(PathOnHost: String, PathInContainer: String, CgroupPermissions: String) {
            self.PathOnHost = PathOnHost
            self.PathInContainer = PathInContainer
            self.CgroupPermissions = CgroupPermissions
        }
    }

    /// `HostConfig.Ulimits[]`.
    public struct UlimitSetting: Codable, Sendable, Equatable {
        public var Name: String
        public var Soft: Int
        public var Hard: Int

        /// Creates the value from its fields.
        public init(Name: String, Soft: Int, Hard: Int) {
            self.Name = Name
            self.Soft = Soft
            self.Hard = Hard
        }
    }

    /// `HostConfig.PortBindings["80/tcp"][]`; an empty `HostPort` lets Docker choose.
    public struct PortBinding: Codable, Sendable, Equatable {
        public var HostIp: String
        public var HostPort: String

        /// Creates the value from its fields.
        public init(HostIp: String = "", HostPort: String) {
            self.HostIp = HostIp
            self.HostPort = HostPort
        }
    }

    /// `HostConfig.LogConfig`.
    public struct LogSettings: Codable, Sendable, Equatable {
        /// The log driver (`json-file`, `local`, ...).
        public var `Type`: String
        public var Config: [String: String]?

        /// Creates the value from its fields.
        public init(Type: String, Config: [String: String]?) {
            self.Type = `Type`
            self.Config = Config
        }
    }

    /// `Healthcheck`: durations in nanoseconds.
    public struct HealthConfig: Codable, Sendable, Equatable {
        public var Test: [String]
        public var Interval: Int64?
        public var Timeout: Int64?
        public var Retries: Int?
        public var StartPeriod: Int64?

        /// Creates the value from its fields.
        public init(Test: [String], Interval: Int64? = nil, Timeout: Int64? = nil, Retries: Int? = nil, StartPeriod: Int64? = nil) {
            self.Test = Test
            self.Interval = Interval
            self.Timeout = Timeout
            self.Retries = Retries
            self.StartPeriod = StartPeriod
        }
    }

    /// `{}`, as Docker wants for each of `ExposedPorts`' values.
    public struct EmptyObject: Codable, Sendable, Equatable {
        /// Creates the value from its fields.
        public init() {}
    }
}
