import ArgumentParser
import FractalDaemon
import FractalVersion
import Foundation
import Logging

@main
struct FractalAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fractal-agent",
        abstract: "The host daemon that gives each session container its own virtual input devices and directories.",
        discussion: """
            fractal-agent owns every session's uinput devices (a keyboard, a mouse, an absolute pointer, \
            gamepads), named and tracked by FractalID, and serves an HTTP/JSON API on a unix socket. \
            Use devicectl to drive it. It must run as root (uinput, mounts). Each lease also gets a \
            session socket (fd hand-off and filtered injection for the streaming server inside; see \
            docs/SESSION-PROTOCOL.md) and a udev view of exactly its devices, both bound into its \
            task's containers, where gamepads can be hot-plugged.

            Configuration: every option can also be set in /etc/fractal-agent/agent.toml (or the file \
            --config names), one TOML key per long option: max-leases = 200, allowed-root = ["/srv/sessions"], \
            release-on-exit = true. The file is read first and the command line after it, so an option given \
            on the command line wins over the file's; the values of a repeatable option (an array in the file) \
            and the command line's add up. A flag set in the file can only be unset there. A missing default \
            file is fine; a missing --config file, a file that is not TOML, an unknown key or a value of the \
            wrong kind stops the daemon with exit status 2, naming the file, line and key.

            Under systemd (Type=notify; the package's fractal-agent.service) it reports readiness and live \
            lease counts, answers the watchdog, and keeps every device's descriptor and session socket in \
            systemd's file-descriptor store, so a restart, a crash or a package upgrade keeps every session's \
            devices. Without systemd (no NOTIFY_SOCKET) the devices end with the process and their leases \
            come back as devices-lost; directories stay.

            Examples:
              fractal-agent
              fractal-agent --socket-group fractal --allowed-root /srv/sessions --max-leases 200
              fractal-agent --config /srv/fractal/agent.toml --log-level debug
            """,
        version: "fractal-agent \(fractalVersionLine)"
    )

    @Option(name: .customLong(configOptionName), help: ArgumentHelp(
        "The configuration file (TOML; default \(DaemonConfigurationFile.defaultPath), read only if it is there).",
        valueName: "path"))
    var config: String?

    @Flag(name: .customLong("validate"), help: "Check the configuration file and the options, then exit without starting: 0 when they are valid, 2 for a bad file, 64 for a bad option.")
    var validateOnly = false

    @Option(help: "The API's unix socket.")
    var socket: String = DaemonConfiguration().socketPath

    @Option(help: "A group whose members may use the socket (mode 0660). Without it only root may.")
    var socketGroup: String?

    @Option(name: .customLong("api-allow-uid"), help: ArgumentHelp(
        "A user, besides root, whose calls the API answers (repeatable).",
        discussion: "Without it, whoever can connect to the socket may call. With it, every other caller gets 403, whatever its group: the kernel names each caller (SO_PEERCRED).",
        valueName: "uid"))
    var apiAllowUIDs: [UInt32] = []

    @Option(help: "Where the durable state (SQLite) lives.")
    var stateDir: String = DaemonConfiguration().stateDirectory

    @Option(name: .customLong("allowed-root"), help: "A directory under which lease directories may be made (repeatable).")
    var allowedRoots: [String] = []

    @Option(name: .customLong("allow-host-path"), help: ArgumentHelp(
        "A host path task definitions may bind as it is (repeatable): the path and everything below it.",
        discussion: "Without it a task binds only its own placeholder directory below --allowed-root. Name real paths (no symbolic links) that no session can write into; the daemon's sockets, state and the Docker socket are refused whatever is allowed."))
    var allowHostPaths: [String] = []

    @Option(name: .customLong("allow-capability"), help: "A capability task definitions may add beyond Docker's defaults, such as SYS_NICE (repeatable). ALL is always refused.")
    var allowCapabilities: [String] = []

    @Option(name: .customLong("allow-device"), help: ArgumentHelp(
        "A host device task definitions may name in linuxParameters.devices (repeatable): the path and everything below it.",
        discussion: "None by default. GPU hosts want /dev/dri and each /dev/nvidia* node (--allow-device /dev/nvidiactl --allow-device /dev/nvidia0 ...). Input devices, console terminals and /dev/mem are refused whatever is allowed: input devices come only from the session's lease."))
    var allowDevices: [String] = []

    @Flag(help: "Let task definitions use Docker volumes with a driver, driverOpts, shared scope or autoprovision (driverOpts can mount any host path).")
    var allowDockerVolumeOptions = false

    @Option(help: ArgumentHelp(
        "The size cap of a lease's directory, a tmpfs unless the request says otherwise (K, M or G suffix).",
        discussion: "A session cannot write more into its directory, so it cannot fill the filesystem the directory (or the state database) lives on. tmpfs takes its pages from memory and swap: this times --max-leases is what sessions may hold. A request may ask for less, or more up to --directory-max-size.",
        valueName: "size"))
    var directorySize: String = "1G"

    @Option(help: ArgumentHelp("The most files and directories in a lease's tmpfs directory.", valueName: "count"))
    var directoryInodes: UInt64 = DaemonDirectoryLimits.standardInodes

    @Option(help: ArgumentHelp("The largest size cap a request may ask for (default: --directory-size).", valueName: "size"))
    var directoryMaxSize: String?

    @Option(help: ArgumentHelp("The most files a request may ask for (default: --directory-inodes).", valueName: "count"))
    var directoryMaxInodes: UInt64?

    @Option(help: "The most live leases at once (the kernel has at most 1024 input minors; a lease takes 3 to 8).")
    var maxLeases: Int = DaemonConfiguration().maximumLeases

    @Option(help: "Seconds udevd may finish none of our devices before a lease waiting on it fails (slow is not stuck).")
    var udevTimeout: Double = 10

    @Option(help: ArgumentHelp(
        "Lease creations that make devices and wait for udevd at once; the rest wait their turn in order.",
        discussion: "A burst admitted all at once makes every lease wait on every other's uevents. Queued requests hold no thread and count against --max-leases; past 512 waiting, a request is refused (503).",
        valueName: "count"))
    var udevAdmissions: Int = DaemonConfiguration().udevAdmissions

    @Option(help: ArgumentHelp(
        "Microseconds the session loop keeps polling after serving a client before it sleeps (0: never).",
        discussion: "A frame that arrives within the window is written without waking a sleeping thread, which is most of a frame's latency through a session socket; the loop keeps a CPU busy that long after each frame. For hosts where input latency matters more than a core, e.g. 500.",
        valueName: "µs"))
    var sessionBusyPoll: Int = 0

    @Option(help: "The uinput node.")
    var uinput: String = DaemonConfiguration().uinputPath

    @Option(help: "Where each lease's session socket and udev view are made, to be bound into its containers (one daemon per directory; strays are removed at start).")
    var sessionDir: String = DaemonConfiguration().sessionRoot

    @Option(help: ArgumentHelp(
        "Where each active lease's CDI spec is written, for CDI-aware engines; none: no specs.",
        discussion: "Podman, CRI-O, containerd 1.7+ and Docker 25+ read /var/run/cdi: `podman run --device fractal.dev/input=<FractalID>` gets exactly the lease's nodes, directories and session socket. The default directory is made when missing; one named here must exist, and a lease fails naming it when it cannot be written.",
        valueName: "dir|none"))
    var cdiDir: String = DaemonConfiguration().cdiDirectory ?? "none"

    @Option(help: "The Docker Engine's socket, for tasks (POST /v1/tasks).")
    var dockerSocket: String = DaemonConfiguration().dockerSocketPath

    @Flag(help: "On SIGTERM, release every lease (devices, mounts, directories) instead of keeping directories for running containers.")
    var releaseOnExit = false

    @Option(help: ArgumentHelp(
        "What happens to the host's text consoles' keyboards while a session keyboard lives: off or keep.",
        discussion: "The kernel feeds every keyboard, session keyboards included, to the text console in front: a session could type into tty1's login prompt or switch VTs with Alt+Fn. 'off' (the default) switches the keyboard of the VT in front and of every VT in use off (K_OFF, as a compositor does) while any lease has a keyboard, and restores it afterwards. 'keep' leaves the consoles alone: only for hosts whose consoles nobody can reach.",
        valueName: "off|keep"))
    var consoleKeyboard: ConsoleKeyboardMode = .off

    @Flag(help: ArgumentHelp(
        "Serve the kubelet as a device plugin: resources fractal.dev/input and fractal.dev/input-gamepad.",
        discussion: "Each pool's slots are registered with the kubelet in --kubelet-dir; Allocate makes a lease per slot (keyboard, mouse and tablet; the gamepad pool adds a gamepad) and answers its CDI name and the same nodes, mounts and environment spelled out; a slot's lease is released once the kubelet's PodResources no longer lists it. A kubelet that is absent or restarts is waited for. See docs/KUBERNETES.md."))
    var kubelet = false

    @Option(help: ArgumentHelp("The kubelet's device-plugin directory: its kubelet.sock, and the plugin's endpoint sockets.", valueName: "dir"))
    var kubeletDir: String = KubeletConfiguration(slotsPerPool: 0).directory

    @Option(help: ArgumentHelp("The kubelet's PodResources socket, polled to learn which slots pods still hold.", valueName: "path"))
    var podResourcesSocket: String = KubeletConfiguration(slotsPerPool: 0).podResourcesSocket

    @Option(help: ArgumentHelp("Slots advertised per pool (default: --max-leases).", valueName: "count"))
    var kubeSlots: Int?

    @Option(help: ArgumentHelp(
        "Seconds between PodResources polls; a slot's lease is released at the first poll that finds no pod holding it.",
        valueName: "seconds"))
    var kubePoll: Double = KubeletConfiguration(slotsPerPool: 0).pollInterval / .seconds(1)

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Like ArgumentParser's own entry point, with the configuration file's options read first;
    /// a configuration file that cannot be used stops the daemon with exit status 2.
    static func main() async {
        do {
            let command = try parse(withConfigurationFile: Array(CommandLine.arguments.dropFirst()))
            try await command.run()
        } catch let error as DaemonConfigurationFile.Error {
            FileHandle.standardError.write(Data("fractal-agent: \(error)\n".utf8))
            exit(withError: ExitCode(2))
        } catch {
            exit(withError: error)
        }
    }

    func validate() throws {
        guard (1...1024).contains(maxLeases) else { throw ValidationError("--max-leases must be between 1 and 1024") }
        guard udevTimeout > 0 && udevTimeout <= 600 else { throw ValidationError("--udev-timeout must be between 0 and 600 seconds") }
        guard (1...64).contains(udevAdmissions) else { throw ValidationError("--udev-admissions must be between 1 and 64") }
        guard (0...10_000).contains(sessionBusyPoll) else { throw ValidationError("--session-busy-poll must be between 0 and 10000 microseconds") }
        guard sessionDir.hasPrefix("/") else { throw ValidationError("--session-dir \(sessionDir) must be an absolute path") }
        guard cdiDir == "none" || cdiDir.hasPrefix("/") else { throw ValidationError("--cdi-dir \(cdiDir) must be an absolute path, or none") }
        for root in allowedRoots where !root.hasPrefix("/") {
            throw ValidationError("--allowed-root \(root) must be an absolute path")
        }
        if let kubeSlots, !(1...1024).contains(kubeSlots) { throw ValidationError("--kube-slots must be between 1 and 1024") }
        guard kubePoll >= 0.1 && kubePoll <= 3600 else { throw ValidationError("--kube-poll must be between 0.1 and 3600 seconds") }
        for (flag, path) in [("--kubelet-dir", kubeletDir), ("--pod-resources-socket", podResourcesSocket)] where !path.hasPrefix("/") {
            throw ValidationError("\(flag) \(path) must be an absolute path")
        }
        if let problem = try directoryLimits().problem { throw ValidationError("--directory-*: \(problem)") }
        for (flag, paths) in [("--allow-host-path", allowHostPaths), ("--allow-device", allowDevices)] {
            for path in paths where !path.hasPrefix("/") { throw ValidationError("\(flag) \(path) must be an absolute path") }
        }
        for capability in allowCapabilities where capability.uppercased() == "ALL" || capability.uppercased() == "CAP_ALL" {
            throw ValidationError("--allow-capability \(capability): every capability at once is never allowed; name each one")
        }
    }

    /// The directory caps the options ask for.
    func directoryLimits() throws -> DaemonDirectoryLimits {
        func bytes(_ text: String, _ flag: String) throws -> UInt64 {
            guard let bytes = DaemonDirectoryLimits.bytes(text) else {
                throw ValidationError("\(flag) \(text) is not a size above zero such as 512M or 1G")
            }
            return bytes
        }
        return DaemonDirectoryLimits(
            defaultSizeBytes: try bytes(directorySize, "--directory-size"), defaultInodes: directoryInodes,
            maximumSizeBytes: try directoryMaxSize.map { try bytes($0, "--directory-max-size") }, maximumInodes: directoryMaxInodes)
    }

    func run() async throws {
        var configuration = DaemonConfiguration()
        configuration.socketPath = socket
        configuration.socketGroup = socketGroup
        configuration.apiAllowedUIDs = apiAllowUIDs
        configuration.consoleKeyboard = consoleKeyboard
        configuration.stateDirectory = stateDir
        if !allowedRoots.isEmpty { configuration.allowedRoots = allowedRoots }
        configuration.maximumLeases = maxLeases
        configuration.udevTimeout = .milliseconds(Int64(udevTimeout * 1000))
        configuration.udevAdmissions = udevAdmissions
        configuration.sessionBusyPoll = .microseconds(sessionBusyPoll)
        configuration.uinputPath = uinput
        configuration.sessionRoot = sessionDir
        configuration.cdiDirectory = cdiDir == "none" ? nil : cdiDir
        configuration.releaseOnExit = releaseOnExit
        configuration.directoryLimits = try directoryLimits()
        configuration.allowedHostPaths = allowHostPaths
        configuration.allowedCapabilities = allowCapabilities
        configuration.allowedDevices = allowDevices
        configuration.allowDockerVolumeOptions = allowDockerVolumeOptions
        configuration.dockerSocketPath = dockerSocket
        if kubelet {
            var settings = KubeletConfiguration(slotsPerPool: kubeSlots ?? maxLeases)
            settings.directory = kubeletDir
            settings.podResourcesSocket = podResourcesSocket
            settings.pollInterval = .milliseconds(Int64(kubePoll * 1000))
            configuration.kubelet = settings
        }

        if validateOnly {
            let path = config ?? DaemonConfigurationFile.defaultPath
            print(access(path, F_OK) == 0 ? "\(path) and the options are valid" : "no \(path); the options are valid")
            return
        }

        // Under systemd, lines carry journald's priority prefix instead of a timestamp.
        JournalLogHandler.bootstrap(level: logLevel)
        let logger = Logger(label: "fractal-agent")
        logger.info("fractal-agent \(fractalVersionLine) starting")
        do {
            try await Daemon.run(configuration, logger: logger)
        } catch let error as DaemonStartError {
            logger.critical("\(error)")
            throw ExitCode(2)
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension ConsoleKeyboardMode: ExpressibleByArgument {}
