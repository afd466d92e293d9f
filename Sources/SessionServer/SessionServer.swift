import CFractalLinux
import CUInput
import DeviceManager
import Foundation
import FractalSessionProtocol
import Logging

/// Serves every lease's session socket (docs/SESSION-PROTOCOL.md) and its devices' feedback
/// from one epoll thread (`SessionLoop`).
///
/// Each lease gets a unix socket; a connection on it speaks for that lease's devices only.
/// Clients inject framed event batches (each decoded from the receive buffer straight into the
/// kernel's layout, filtered in place by the lease's `InputFilter`, and written with one
/// write(2)), or take the devices' uinput fds where the policy allows, and get rumble and LED
/// notifications, read from the same loop. The kernel's socket buffers are the back-pressure:
/// the loop reads a bounded amount per connection per wake-up and never blocks on a client.
///
/// The methods here post commands to the loop and wait for them: the loop alone touches its
/// state, so no lock is held across I/O. Before `start()` and after `stop()`, they run on the
/// caller's thread.
public final class SessionServer: Sendable {
    /// Bounds on what one lease or connection may take.
    public struct Limits: Sendable {
        /// Connections per lease; more are refused with ERROR too-many-connections.
        public var connectionsPerLease = 8
        /// Bytes read from one connection per wake-up, so that one flood does not starve the rest.
        public var readBytesPerWakeup = 64 * 1024
        /// Queued replies past which the loop stops reading a connection until it drains.
        public var queuedBytesPausingReads = 64 * 1024
        /// Non-fatal ERROR frames: a burst, then this many a second.
        public var errorBurst = 16
        public var errorsPerSecond = 4.0
        /// Connections accepted per listener per wake-up.
        public var acceptsPerWakeup = 16
        /// A connection that has not said HELLO by then is closed (ERROR hello-timeout).
        public var helloTimeout: Duration = .seconds(10)
        /// A connection that has sent no frame for this long is closed (ERROR idle-timeout); a
        /// client with nothing to say sends PING.
        public var idleTimeout: Duration = .seconds(30 * 60)
        /// How long a listener stops accepting after the process ran out of descriptors
        /// (EMFILE, ENFILE): the pending connection stays in the backlog until then, and the
        /// loop sleeps instead of spinning on a listener that stays readable.
        public var acceptBackoff: Duration = .milliseconds(250)
        /// How long a device's descriptor goes unwatched after a read that found no feedback.
        /// The kernel queues every EV_MSC written to a uinput device (MSC_SCAN with each key) on
        /// its descriptor too; watching again at once would wake the loop for each such frame.
        /// A game's force-feedback request waits at most this long more.
        public var feedbackQuietDelay: Duration = .milliseconds(2)
        /// How long the loop keeps polling (epoll with no wait) after a turn that read from a
        /// client, before it sleeps: a frame that arrives meanwhile is served without the wake-up
        /// of a sleeping thread, the largest part of a frame's latency through the socket, at
        /// the price of a CPU kept busy that long after each frame. Zero (the default): never.
        public var busyPoll: Duration = .zero
        /// The pause between the batches a TEXT frame is typed in (32 events, a few characters,
        /// each), as the API types text: a reader's evdev buffer holds 64 events, and text
        /// written at once would overflow it (SYN_DROPPED). Frames sent after a TEXT wait for it.
        public var textBatchInterval: Duration = .milliseconds(2)

        public init() {}
    }

    public let limits: Limits
    private let logger: Logger
    private let loop: SessionLoop

    /// Sets up epoll; `start()` begins serving.
    public init(limits: Limits = Limits(), logger: Logger = Logger(label: "fractal.session")) throws(SessionServerError) {
        self.limits = limits
        self.logger = logger
        loop = try SessionLoop(limits: limits, logger: logger)
    }

    /// Starts the loop thread.
    public func start() {
        loop.start()
    }

    /// Closes every lease's connections (releasing their held keys) and sockets, and ends the
    /// loop thread. The server cannot be started again; a second call does nothing.
    /// `keepingSockets` leaves each socket file in place, for a listener kept across a restart
    /// (systemd's file-descriptor store) that the next process serves: connections that arrive
    /// meanwhile wait in its backlog.
    public func stop(keepingSockets: Bool = false) {
        loop.perform { loop in
            loop.registry.stopping = true
            for id in Array(loop.registry.leases.keys) { Self.remove(id, unlinking: !keepingSockets, in: loop) }
        }
        loop.join()
    }

    /// What has happened so far.
    public var statistics: SessionStatistics {
        loop.perform { $0.registry.statistics }
    }

    /// The lease IDs with a socket.
    public var leaseIDs: [FractalID] {
        loop.perform { Array($0.registry.leases.keys) }
    }

    // MARK: Leases

    /// Makes the lease's socket (mode 0666: the directory it sits in decides who reaches it)
    /// and starts accepting on it, and watches its devices for feedback. A stale socket file at
    /// the path is replaced.
    ///
    /// `adopting` is a listener a previous process made for this lease and kept across a restart
    /// (systemd's file-descriptor store): when it is still listening on the lease's path it is
    /// served as it is, with what waits in its backlog; otherwise it is closed and a new one made.
    ///
    /// When the socket cannot be made this throws, and the devices' feedback is served all the
    /// same (a game's force-feedback upload waits for it); `removeLease` undoes both.
    public func addLease(_ lease: SessionLease, adopting kept: Int32? = nil) throws(SessionServerError) {
        let path = lease.socketPath
        let logger = logger
        @Sendable func refusal(_ loop: SessionLoop) -> SessionServerError? {
            if loop.registry.stopping {
                return SessionServerError(operation: "listen", path: path, errno: ESHUTDOWN, detail: "the session server is stopping")
            }
            if loop.registry.leases[lease.id] != nil {
                return SessionServerError(operation: "listen", path: path, errno: EEXIST, detail: "lease \(lease.id) already has a session socket")
            }
            return nil
        }
        // Before the socket file is touched: it may be another lease entry's.
        if let refused = loop.perform(refusal) { throw refused }
        // The socket is made here, on the caller's thread; the loop only registers it.
        var failure: SessionServerError?
        var listener: Int32 = -1
        if let kept, Self.isListening(kept, on: path) {
            listener = kept
        } else {
            if let kept {
                close(kept)
                logger.warning("lease \(lease.id): the kept session listener no longer listens on \(path); making a new one")
            }
            // A socket file left by a daemon that did not exit cleanly; nothing listens on it.
            unlink(path)
            listener = cfl_unix_listen(path, 16)
            if listener < 0 {
                failure = SessionServerError(operation: "listen", path: path, errno: -listener)
                listener = -1
            }
        }
        if listener >= 0 && chmod(path, 0o666) != 0 {
            failure = SessionServerError(operation: "chmod", path: path, errno: errno)
            close(listener)
            unlink(path)
            listener = -1
        }
        let made = listener
        let registered = loop.perform { loop -> SessionServerError? in
            if let refused = refusal(loop) {
                if made >= 0 { close(made) }
                return refused
            }
            let registry = loop.registry
            var listener = made
            var failure: SessionServerError?
            let token = registry.newToken()
            if listener >= 0 {
                let added = cfl_epoll_add(loop.epoll, listener, UInt32(CFL_EPOLLIN), token)
                if added == 0 {
                    registry.registrations[token] = .listener(lease.id)
                } else {
                    close(listener)
                    unlink(path)
                    listener = -1
                    failure = SessionServerError(operation: "epoll_ctl(ADD)", path: path, errno: -added)
                }
            }
            let entry = SessionRegistry.LeaseEntry(
                lease: lease, listener: listener, listenerToken: token, manifest: SessionDispatcher.manifest(of: lease))
            registry.leases[lease.id] = entry
            loop.watchDevices(of: entry)
            return failure
        }
        if let registered { throw registered }
        if let failure { throw failure }
        logger.info("session socket for lease \(lease.id) at \(path) (policy \(lease.policy.rawValue))")
    }

    /// Closes the lease's connections, releasing every key they hold while the devices still
    /// exist, then its listener, and unlinks the socket. Call before the devices close.
    public func removeLease(_ id: FractalID) {
        let path = loop.perform { loop in Self.remove(id, unlinking: true, in: loop) }
        if let path { logger.info("session socket for lease \(id) closed (\(path))") }
    }

    /// On the loop: takes the lease out; returns its socket path if it had one.
    @discardableResult
    private static func remove(_ id: FractalID, unlinking: Bool, in loop: SessionLoop) -> String? {
        let registry = loop.registry
        guard let entry = registry.leases.removeValue(forKey: id) else { return nil }
        for connection in Array(entry.connections.values) {
            loop.dispatcher.fatal(connection, .leaseReleased, "lease \(id) was released", entry: entry)
        }
        loop.unwatchDevices(of: entry)
        guard entry.listener >= 0 else { return nil }
        close(entry.listener)
        registry.registrations[entry.listenerToken] = nil
        if unlinking { unlink(entry.lease.socketPath) }
        return entry.lease.socketPath
    }

    /// The lease's listening socket, to keep across a restart; it stays owned by the server.
    public func listenerDescriptor(of id: FractalID) -> Int32? {
        loop.perform { loop in loop.registry.leases[id].flatMap { $0.listener >= 0 ? $0.listener : nil } }
    }

    /// Turns of the loop so far (each epoll_wait that returned): a loop that spins shows here.
    package var loopTurns: UInt64 {
        loop.turns.load(ordering: .acquiring)
    }

    /// Whether the loop thread runs a command within `timeout` of being woken: false when it
    /// hangs (a blocked call, a busy loop), for the service manager's watchdog.
    public func isResponsive(within timeout: Duration) -> Bool {
        loop.answers(within: timeout)
    }

    /// Whether `fd` is a unix socket listening on `path`.
    private static func isListening(_ fd: Int32, on path: String) -> Bool {
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening != 0 else { return false }
        var address = sockaddr_un()
        var addressLength = socklen_t(MemoryLayout<sockaddr_un>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &addressLength) }
        }
        guard named == 0, address.sun_family == sa_family_t(AF_UNIX) else { return false }
        let bound = withUnsafeBytes(of: address.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        // The name outlives an unlinked file: a socket file must still be there for clients to reach.
        var onDisk = stat()
        return bound == path && stat(path, &onDisk) == 0 && onDisk.st_mode & S_IFMT == S_IFSOCK
    }

    /// Follows a change of the lease's devices (hot-plug). A slot plugged or unplugged keeps
    /// every index, so connections stay (a later HELLO on a new connection shows the new state).
    /// A device added or removed would shift indices under connected clients, so they are closed
    /// with ERROR lease-changed (their held keys released first) and reconnect for the new
    /// manifest; the socket stays. Call before an unplugged device closes.
    public func updateLease(_ lease: SessionLease) {
        loop.perform { loop in
            guard let entry = loop.registry.leases[lease.id] else { return }
            loop.unwatchDevices(of: entry)
            defer { loop.watchDevices(of: entry) }
            let same = entry.lease.devices.count == lease.devices.count
                && zip(entry.lease.devices, lease.devices).allSatisfy { $0.handle == $1.handle && $0.device === $1.device }
            if same {
                entry.lease.devices = lease.devices
                entry.manifest = SessionDispatcher.manifest(of: entry.lease)
                return
            }
            for connection in Array(entry.connections.values) {
                loop.dispatcher.fatal(connection, .leaseChanged, "lease \(lease.id)'s devices changed: reconnect for the new manifest", entry: entry)
            }
            entry.lease.devices = lease.devices
            entry.manifest = SessionDispatcher.manifest(of: entry.lease)
        }
    }
}
