import Agent
import DeviceManager
import FractalAPI
import KubeletPlugin

/// Everything the daemon is told at start.
public struct DaemonConfiguration: Sendable {
    /// The API's unix socket.
    public var socketPath: String = defaultSocketPath
    /// The group that may use the socket (mode 0660); root only when nil.
    public var socketGroup: String?
    /// Users besides root whose calls the API answers (`--api-allow-uid`); empty: whoever can
    /// connect to the socket (root and `socketGroup`).
    public var apiAllowedUIDs: [UInt32] = []
    public var stateDirectory: String = "/var/lib/fractal-agent"
    public var allowedRoots: [String] = ["/var/lib/fractal-agent/sessions"]
    public var maximumLeases: Int = 128
    public var udevTimeout: Duration = .seconds(10)
    /// Lease creations run at once (`--udev-admissions`); the rest wait their turn in order.
    public var udevAdmissions: Int = LeaseManager.standardConcurrentCreations
    /// How long the session loop polls after serving a client before it sleeps (`--session-busy-poll`).
    public var sessionBusyPoll: Duration = .zero
    public var uinputPath: String = "/dev/uinput"
    /// Where each lease's session socket and udev view are made (bound into its containers).
    public var sessionRoot: String = "/run/fractal-agent/sessions"
    /// Where each active lease's CDI spec is written (`--cdi-dir`); none when nil.
    public var cdiDirectory: String? = CDISpecDirectory.standardPath
    /// The Docker Engine's socket, for tasks.
    public var dockerSocketPath: String = "/var/run/docker.sock"
    /// The size and inode caps of every lease's tmpfs directory (`--directory-size` and the like).
    public var directoryLimits = DirectoryLimits()
    /// Release every lease (devices, mounts, directories) on SIGTERM instead of keeping the
    /// directories for the containers that still run.
    public var releaseOnExit: Bool = false
    /// Host paths a task definition may bind as they are (`--allow-host-path`), besides its placeholder directories.
    public var allowedHostPaths: [String] = []
    /// Capabilities a task may add beyond Docker's defaults (`--allow-capability`).
    public var allowedCapabilities: [String] = []
    /// Host devices a task may name (`--allow-device`).
    public var allowedDevices: [String] = []
    /// Docker volumes with drivers, driver options or shared scope (`--allow-docker-volume-options`).
    public var allowDockerVolumeOptions: Bool = false
    /// Whether the host's text consoles' keyboards are switched off while a session keyboard
    /// lives (`ConsoleKeyboardGuard`).
    public var consoleKeyboard: ConsoleKeyboardMode = .off
    /// The Kubernetes device plugin (`--kubelet` and its options); off when nil.
    public var kubelet: KubeletConfiguration?

    public init() {}

    /// What task definitions may ask of this host; no bind may show this daemon's own files, Docker's
    /// socket, or the CDI specs (a spec written there grants devices to the next container that names it).
    public var taskPolicy: TaskPolicy {
        TaskPolicy(
            allowedRoots: allowedRoots, allowedHostPaths: allowedHostPaths, allowedCapabilities: allowedCapabilities,
            allowedDevices: allowedDevices, allowsDockerVolumeOptions: allowDockerVolumeOptions,
            reservedPaths: [socketPath, stateDirectory, sessionRoot, dockerSocketPath, CDISpecDirectory.staticPath]
                + (cdiDirectory.map { [$0] } ?? []))
    }
}

/// `fractal-agent --console-keyboard`: off (the default) or keep.
public typealias ConsoleKeyboardMode = ConsoleKeyboardGuard.Mode

/// `fractal-agent --directory-size` and the like: the caps of lease directories.
public typealias DaemonDirectoryLimits = DirectoryLimits

/// `fractal-agent --kubelet` and its options.
public typealias KubeletConfiguration = KubeletPlugin.Configuration
