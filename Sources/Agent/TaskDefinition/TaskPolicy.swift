/// What the operator lets a task definition ask of this host, beyond what every task gets.
///
/// A task definition's author is not trusted with the host: whatever is not granted here is
/// refused by ``TaskPlan`` before anything is made, with the field named and the flag that
/// would allow it. The defaults grant nothing: host binds only as the session's own directory
/// (a placeholder path strictly below an allowed root), Docker's default capabilities, Docker's
/// confinement (seccomp, AppArmor, SELinux) untouched, no host devices, task-scoped local Docker
/// volumes without driver options.
public struct TaskPolicy: Sendable, Equatable {
    /// Where placeholder directories may be made: `--allowed-root` (the lease manager's roots).
    public var allowedRoots: [String]
    /// Host paths a task may bind as they are (`--allow-host-path`): the path itself and everything below it.
    public var allowedHostPaths: [String]
    /// Capabilities a task may add beyond Docker's defaults (`--allow-capability`), without `CAP_`.
    public var allowedCapabilities: [String]
    /// Host devices a task may name (`--allow-device`): the path itself and everything below it.
    public var allowedDevices: [String]
    /// Docker volumes with a driver, driver options, or shared scope (`--allow-docker-volume-options`).
    public var allowsDockerVolumeOptions: Bool
    /// Paths no bind may show, whatever the allow-list says: the daemon's own sockets and state,
    /// the Docker socket.
    public var reservedPaths: [String]

    /// A policy; every list empty grants nothing beyond the defaults.
    public init(
        allowedRoots: [String] = [], allowedHostPaths: [String] = [], allowedCapabilities: [String] = [],
        allowedDevices: [String] = [], allowsDockerVolumeOptions: Bool = false, reservedPaths: [String] = []
    ) {
        self.allowedRoots = allowedRoots
        self.allowedHostPaths = allowedHostPaths
        self.allowedCapabilities = allowedCapabilities
        self.allowedDevices = allowedDevices
        self.allowsDockerVolumeOptions = allowsDockerVolumeOptions
        self.reservedPaths = reservedPaths
    }

    /// The daemon's flags, named in refusals so the operator knows what would allow them.
    public enum Flag {
        public static let allowedRoot = "--allowed-root"
        public static let hostPath = "--allow-host-path"
        public static let capability = "--allow-capability"
        public static let device = "--allow-device"
        public static let dockerVolumeOptions = "--allow-docker-volume-options"
    }

    /// Docker's default capability set (moby `oci/caps/defaults.go`): adding one back, after
    /// `drop: ["ALL"]`, grants nothing a container does not have anyway.
    public static let dockerDefaultCapabilities: Set<String> = [
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
        "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    ]

    /// Options each log driver may take: none that names where logs go. dockerd itself, as root
    /// in the host's network, would connect there (`syslog-address: unix:///run/...`,
    /// `tcp://169.254.169.254:80`), whatever the task's own network mode.
    public static let allowedLogOptions: [String: Set<String>] = {
        let common: Set<String> = ["mode", "max-buffer-size", "tag", "labels", "labels-regex", "env", "env-regex"]
        return [
            "json-file": common.union(["max-size", "max-file", "compress"]),
            "local": common.union(["max-size", "max-file", "compress"]),
            "journald": common,
            "syslog": common.union(["syslog-facility", "syslog-format"]),
            "none": [],
        ]
    }()

    /// `dockerSecurityOptions` a task may set: only ones that confine further. seccomp, AppArmor
    /// and SELinux options are all refused, since a named profile or label can be as open as `unconfined`.
    public static let allowedSecurityOptions: Set<String> = ["no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"]

    /// Sysctls a task may set: Kubernetes' "safe" set, each in the container's own network or IPC
    /// namespace, none reaching the host or another session.
    public static let safeSysctls: Set<String> = [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range", "net.ipv4.tcp_syncookies", "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    ]

    /// Ulimits a task may set, with the most each may be (nil: any value, as it only limits the
    /// container itself). `nice`, `rtprio` and `rttime` are refused: they let a session's
    /// processes take the CPU from other sessions without `SYS_NICE`.
    public static let ulimitCeilings: [String: Int?] = [
        "core": nil, "cpu": nil, "data": nil, "fsize": nil, "locks": nil, "rss": nil, "stack": nil,
        // The kernel's default fs.nr_open: more cannot be opened anyway.
        "nofile": 1_048_576,
        // Counted per user across the host; the pids cgroup is the real bound.
        "nproc": 65_536,
        // Locked memory cannot be reclaimed: 64 MiB, as a sane ceiling for io_uring or audio buffers.
        "memlock": 64 * 1024 * 1024,
        // Counted per user across the host, in kernel memory.
        "msgqueue": 8 * 1024 * 1024,
        "sigpending": 65_536,
    ]

    /// The capability's name as compared: upper case without `CAP_` (Docker accepts both spellings).
    static func canonicalCapability(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? String(upper.dropFirst(4)) : upper
    }
}
