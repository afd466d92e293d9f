import Agent
import DeviceManager
import FractalAPI
import Foundation
import Hummingbird
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
        let groupID = try configuration.socketGroup.map(lookUpGroup)
        let lock = try StateLock(directory: configuration.stateDirectory)
        defer { lock.release() }
        try refuseIfAnotherDaemonListens(on: configuration.socketPath)
        let socket = try APISocket.prepare(path: configuration.socketPath, groupID: groupID, logger: logger)
        defer { socket.discard() }

        let manager = try LeaseManager(
            configuration: .init(
                stateDirectory: configuration.stateDirectory, allowedRoots: configuration.allowedRoots,
                maximumLeases: configuration.maximumLeases, udevTimeout: configuration.udevTimeout,
                uinputPath: configuration.uinputPath, sessionRoot: configuration.sessionRoot,
                directoryLimits: configuration.directoryLimits),
            logger: logger)
        let report = try manager.reconcile()
        logger.info("\(report)")
        raiseDescriptorLimit(logger: logger)
        let console = ConsoleKeyboardGuard(
            mode: configuration.consoleKeyboard, journal: configuration.stateDirectory + "/console-keyboard.json", logger: logger)
        console.recover()
        console.follow(manager)
        defer { console.stop() }

        let sessions = try startSessions(manager: manager, logger: logger)
        let metrics = DaemonMetrics(sessions: sessions)
        let views = SessionViews(logger: logger)
        views.follow(manager)
        let docker = DockerClient(socketPath: configuration.dockerSocketPath)
        let tasks = TaskRunner(docker: docker, leases: manager, views: views, policy: configuration.taskPolicy, logger: logger)
        let router = Router(context: APIRequestContext.self)
        // Before every route, so none answers a caller it has not checked.
        router.add(middleware: PeerGate(
            allowedUIDs: configuration.apiAllowedUIDs.isEmpty ? nil : Set(configuration.apiAllowedUIDs), metrics: metrics))
        let routes = APIRoutes(manager: manager, tasks: tasks, metrics: metrics, logger: logger)
        routes.register(on: router)
        routes.registerTasks(on: router)
        let socketPath = configuration.socketPath
        let publishFailure = Mutex<DaemonStartError?>(nil)
        let application = Application(
            router: router,
            configuration: .init(address: .unixDomainSocket(path: socket.bindPath), serverName: "fractal-agent"),
            services: [
                FeedbackPump(manager: manager, metrics: metrics, logger: logger) { id, role, feedback in
                    sessions.forward(feedback, lease: id, role: role)
                },
                TaskFollower(tasks: tasks, logger: logger),
            ],
            onServerRunning: { _ in
                do throws(DaemonStartError) {
                    try socket.publish()
                    logger.info("fractal-agent listening on \(socketPath)")
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
        // Held keys are released while the devices still exist.
        sessions.stop()
        try? await docker.shutdown()
        if configuration.releaseOnExit {
            let problems = manager.releaseAll()
            logger.info("released every lease on exit\(problems.isEmpty ? "" : "; problems: \(problems.joined(separator: "; "))")")
        } else {
            let kept = manager.counts.leases
            if kept > 0 {
                logger.notice("\(kept) lease(s) kept: their devices end with this process, their directories stay for the containers that use them (--release-on-exit releases everything)")
            }
        }
        if let failure = publishFailure.withLock({ $0 }) { throw failure }
    }

    /// Starts the session sockets and has them follow every lease from now on.
    private static func startSessions(manager: LeaseManager, logger: Logger) throws -> SessionServer {
        let sessions: SessionServer
        do {
            sessions = try SessionServer(logger: logger)
        } catch {
            throw DaemonStartError(description: "cannot start the session sockets: \(error)")
        }
        manager.addObserver { change in
            func session(_ lease: Lease) -> SessionLease? {
                SessionLease(lease) { role in manager.device(lease.id, role: role) }
            }
            switch change {
            case .created(let lease):
                guard let session = session(lease) else { return }
                do { try sessions.addLease(session) } catch {
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
