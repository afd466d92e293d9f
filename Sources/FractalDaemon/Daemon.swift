import Agent
import DeviceManager
import FractalAPI
import FractalSystem
import Foundation
import Hummingbird
import KubeletPlugin
import Logging
import ServiceLifecycle
import SessionServer
import Synchronization

/// Why the daemon could not start.
public struct DaemonStartError: Error, CustomStringConvertible {
    public var description: String
}

/// The `fractal-agent` daemon: owns every lease's devices and serves the API on its socket.
public enum Daemon {
    /// Runs until SIGTERM or SIGINT; then stops serving and, if configured, releases every lease.
    public static func run(_ configuration: DaemonConfiguration, logger: Logger) async throws {
        // First, before anything can fail: what systemd kept for us is ours to close or adopt.
        let service = ServiceManager()
        let passed = PassedDescriptors(service.isPresent ? ServiceManager.takePassedDescriptors() : [])
        var claimed = Set<Int32>()
        // Our copies only: if the start fails, systemd still holds its own for the next try.
        defer { for (_, _, fd) in passed.all where !claimed.contains(fd) { close(fd) } }

        let groupID = try configuration.socketGroup.map(lookUpGroup)
        let lock = try StateLock(directory: configuration.stateDirectory)
        defer { lock.release() }
        try makeDefaultDirectories(configuration)
        try refuseIfAnotherDaemonListens(on: configuration.socketPath)
        let socket = try APISocket.prepare(path: configuration.socketPath, groupID: groupID, logger: logger)
        defer { socket.discard() }

        let manager: LeaseManager
        let report: LeaseManager.ReconcileReport
        do throws(LeaseError) {
            manager = try LeaseManager(
                configuration: .init(
                    stateDirectory: configuration.stateDirectory, allowedRoots: configuration.allowedRoots,
                    maximumLeases: configuration.maximumLeases, udevTimeout: configuration.udevTimeout,
                    uinputPath: configuration.uinputPath, sessionRoot: configuration.sessionRoot,
                    directoryLimits: configuration.directoryLimits, concurrentCreations: configuration.udevAdmissions,
                    cdiDirectory: configuration.cdiDirectory),
                logger: logger)
            // Under systemd the store keeps devices across restarts: adopt what it passed back.
            report = try manager.reconcile(adopting: service.isPresent ? passed.devices : nil)
        } catch {
            // The state database or a root is unusable: a restart would not help (exit 2).
            throw DaemonStartError(description: "\(error)")
        }
        claimed.formUnion(report.adoptedDescriptors)
        logger.info("\(report)")
        if let cdi = configuration.cdiDirectory {
            // Said now, not only when the first lease fails on it.
            do { try CDISpecDirectory(path: cdi).checkWritable() } catch {
                logger.error("\(error): every lease will fail until the CDI spec directory is usable (or --cdi-dir none)")
            }
        }
        if !passed.all.isEmpty {
            logger.info("systemd passed back \(passed.all.count) descriptor(s); \(report.adoptedDescriptors.count) adopted with \(report.adopted.count) lease(s)")
        }
        raiseDescriptorLimit(logger: logger)
        let console = ConsoleKeyboardGuard(
            mode: configuration.consoleKeyboard, journal: configuration.stateDirectory + "/console-keyboard.json", logger: logger)
        console.recover()
        console.follow(manager)
        /// Whether the devices outlive this process (systemd's store keeps them).
        let keepsDevices = service.isPresent && !configuration.releaseOnExit
        defer { console.stop(restoring: !(keepsDevices && manager.counts.leases > 0)) }

        let keptListeners = Mutex(passed.listeners)
        var sessionLimits = SessionServer.Limits()
        sessionLimits.busyPoll = configuration.sessionBusyPoll
        let sessions = try startSessions(manager: manager, limits: sessionLimits, logger: logger) { id in
            keptListeners.withLock { $0.removeValue(forKey: id) }
        }
        let keeper = DescriptorKeeper(service: service, manager: manager, sessions: sessions, logger: logger)
        keeper.follow()
        let metrics = DaemonMetrics(sessions: sessions)
        let views = SessionViews(logger: logger)
        views.follow(manager)
        // Every observer is in place: adopted leases get their sockets, views, console guard and store entries.
        manager.announceLive()
        // Listeners the sessions took are theirs now; the rest are closed below.
        claimed.formUnion(passed.listeners.filter { id, _ in keptListeners.withLock { $0[id] == nil } }.values)
        dropUnclaimed(passed, claimed: claimed, service: service, logger: logger)
        claimed = Set(passed.all.map(\.fd))
        let docker = DockerClient(socketPath: configuration.dockerSocketPath)
        let tasks = TaskRunner(docker: docker, leases: manager, views: views, policy: configuration.taskPolicy, logger: logger)
        let router = Router(context: APIRequestContext.self)
        // Before every route, so none answers a caller it has not checked.
        router.add(middleware: PeerGate(
            allowedUIDs: configuration.apiAllowedUIDs.isEmpty ? nil : Set(configuration.apiAllowedUIDs), metrics: metrics))
        let routes = APIRoutes(manager: manager, tasks: tasks, metrics: metrics, logger: logger)
        routes.register(on: router)
        routes.registerTasks(on: router)
        // --kubelet: in the group, so that it stops with the API while every device still exists.
        let kubelet = configuration.kubelet.map { settings in
            var settings = settings
            settings.cdiNames = configuration.cdiDirectory != nil
            return KubeletPlugin(configuration: settings, manager: manager, logger: logger)
        }
        let socketPath = configuration.socketPath
        let publishFailure = Mutex<DaemonStartError?>(nil)
        let application = Application(
            router: router,
            configuration: .init(address: .unixDomainSocket(path: socket.bindPath), serverName: "fractal-agent"),
            services: [
                // First, so that it stops last: after the API, while every device still exists.
                SessionService(sessions: sessions, keepingSockets: keepsDevices),
                TaskFollower(tasks: tasks, logger: logger),
                ServiceWatchdog(
                    service: service, manager: manager, sessions: sessions, keeper: keeper,
                    taskCount: { tasks.count }, logger: logger),
            ] + (kubelet.map { [$0] } ?? []),
            onServerRunning: { _ in
                do throws(DaemonStartError) {
                    try socket.publish()
                    logger.info("fractal-agent listening on \(socketPath)")
                    let counts = manager.counts
                    service.notify("READY=1\nSTATUS=listening on \(socketPath); \(counts.leases) active lease(s)")
                } catch {
                    // Unreachable where clients look: stop, and exit as a failed start.
                    publishFailure.withLock { $0 = error }
                    kill(getpid(), SIGTERM)
                }
            },
            logger: logger)

        let group = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()

        unlink(socketPath)
        // Already stopped by its service, unless the group ended before it ran; held keys are
        // released while the devices still exist, and kept listeners keep their paths.
        sessions.stop(keepingSockets: keepsDevices)
        try? await docker.shutdown()
        if configuration.releaseOnExit {
            let problems = manager.releaseAll()
            logger.info("released every lease on exit\(problems.isEmpty ? "" : "; problems: \(problems.joined(separator: "; "))")")
        } else {
            let kept = manager.counts.leases
            if kept > 0 && keepsDevices {
                logger.notice("\(kept) lease(s) kept with their devices in systemd's file-descriptor store, for the next start to adopt")
            } else if kept > 0 {
                logger.notice("\(kept) lease(s) kept: their devices end with this process (not started by systemd, so no descriptor store keeps them), their directories stay for the containers that use them (--release-on-exit releases everything)")
            }
        }
        if let failure = publishFailure.withLock({ $0 }) { throw failure }
    }

    /// Closes every descriptor systemd passed back that no lease adopted (its lease is gone, or it
    /// no longer holds the device recorded) and drops it from the store, so the store does not
    /// keep a stale device alive.
    static func dropUnclaimed(_ passed: PassedDescriptors, claimed: Set<Int32>, service: ServiceManager, logger: Logger) {
        // FDSTOREREMOVE takes out every descriptor of a name: one adopted under a name that a stray
        // duplicate also has is stored again afterwards.
        var adopted: [String: (StoredDescriptorName, Int32)] = [:]
        for (name, parsed, fd) in passed.all where claimed.contains(fd) {
            if let parsed, adopted[name] == nil { adopted[name] = (parsed, fd) }
        }
        for (name, parsed, fd) in passed.all where !claimed.contains(fd) {
            logger.notice("closing the kept descriptor \(name)\(parsed == nil ? " (a name this version does not know)" : ""): no lease adopted it")
            close(fd)
            service.notify("FDSTOREREMOVE=1\nFDNAME=\(name)")
            if let (kept, keptFD) = adopted[name] { service.store(keptFD, as: kept) }
        }
    }

    /// Makes the directories the defaults name, so a fresh host with no flags just works; a
    /// directory the operator named must exist (a typo must not become a new empty root).
    private static func makeDefaultDirectories(_ configuration: DaemonConfiguration) throws {
        let defaults = DaemonConfiguration()
        for root in configuration.allowedRoots where defaults.allowedRoots.contains(root) {
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            } catch {
                throw DaemonStartError(description: "cannot create the default lease root \(root): \(error)")
            }
        }
        // CDI's own runtime directory: engines read it whether or not it existed before us.
        if let cdi = configuration.cdiDirectory, cdi == defaults.cdiDirectory {
            do {
                try FileManager.default.createDirectory(atPath: cdi, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            } catch {
                throw DaemonStartError(description: "cannot create the CDI spec directory \(cdi): \(error)")
            }
        }
        let socketDirectory = (configuration.socketPath as NSString).deletingLastPathComponent
        if configuration.socketPath == defaults.socketPath && !FileManager.default.fileExists(atPath: socketDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            } catch {
                throw DaemonStartError(description: "cannot create the API socket's directory \(socketDirectory): \(error)")
            }
        }
    }

    /// Starts the session sockets and has them follow every lease from now on; `keptListener`
    /// gives a lease's listener kept across a restart, if any.
    private static func startSessions(
        manager: LeaseManager, limits: SessionServer.Limits, logger: Logger, keptListener: @escaping @Sendable (FractalID) -> Int32?
    ) throws -> SessionServer {
        let sessions: SessionServer
        do {
            sessions = try SessionServer(limits: limits, logger: logger)
        } catch {
            throw DaemonStartError(description: "cannot start the session sockets: \(error)")
        }
        manager.addObserver { change in
            func session(_ lease: Lease) -> SessionLease? {
                SessionLease(lease) { handle in manager.device(lease.id, handle: handle) }
            }
            switch change {
            case .created(let lease):
                guard let session = session(lease) else { return }
                do { try sessions.addLease(session, adopting: keptListener(lease.id)) } catch {
                    logger.error("lease \(lease.id): no session socket: \(error)")
                }
            case .changed(let lease):
                if let session = session(lease) { sessions.updateLease(session) }
            case .releasing(let lease):
                sessions.removeLease(lease.id)
            }
        }
        sessions.start()
        return sessions
    }

    /// Raises the soft descriptor limit to the hard one: every device, session connection and
    /// handed-off reply is a descriptor, and the default soft limit (1024) is a fraction of what
    /// a full host needs. Running out is still handled (accept back-off), never a spin.
    private static func raiseDescriptorLimit(logger: Logger) {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let before = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(resource, &limit) == 0 {
            logger.debug("descriptor limit raised from \(before) to \(limit.rlim_max)")
        }
    }

    private static func lookUpGroup(_ name: String) throws -> gid_t {
        if let number = gid_t(name) { return number }
        guard let entry = getgrnam(name) else {
            throw DaemonStartError(description: "socket group '\(name)' does not exist; create it (groupadd \(name)) or pass another --socket-group")
        }
        return entry.pointee.gr_gid
    }

    private static func refuseIfAnotherDaemonListens(on path: String) throws {
        if UnixSocketProbe.failure(path) == nil {
            throw DaemonStartError(description: "another fractal-agent is already listening on \(path); stop it first")
        }
    }
}

/// An exclusive lock on the state directory, so two daemons never manage the same leases.
final class StateLock {
    private var fd: Int32

    init(directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DaemonStartError(description: "cannot create the state directory \(directory): \(error)")
        }
        let path = directory + "/lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DaemonStartError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw DaemonStartError(description: "another fractal-agent holds \(path): one daemon per state directory")
        }
    }

    func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }
}
