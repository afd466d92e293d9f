import CFractalLinux
import CUInput
import DeviceManager
import Foundation
import FractalSessionProtocol
import Logging
import Synchronization

/// Serves every lease's session socket (docs/SESSION-PROTOCOL.md) from one epoll thread.
///
/// Each lease gets a unix socket; a connection on it speaks for that lease's devices only.
/// Clients inject framed event batches (each written to the device with one write(2), through
/// the lease's `InputFilter`), or take the devices' uinput fds where the policy allows, and
/// get rumble and LED notifications. The kernel's socket buffers are the back-pressure: the
/// loop reads a bounded amount per connection per wake-up and never blocks on a client.
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

        public init() {}
    }

    private enum Registration {
        case wake
        case listener(FractalID)
        case connection(SessionConnection)
    }

    private final class LeaseEntry {
        var lease: SessionLease
        let listener: Int32
        let listenerToken: UInt64
        var manifest: [UInt8]
        var connections: [UInt64: SessionConnection] = [:]
        /// How many of this lease's connections hold Ctrl and Alt: a combination split across
        /// them (two clients of one streaming server) is still a combination. Other leases'
        /// modifiers never count: the host's VT keyboard is off (`ConsoleKeyboardGuard`).
        var ctrlHolders = 0
        var altHolders = 0
        /// While accepting is paused after EMFILE: when to listen again (monotonic ns).
        var acceptPausedUntil: UInt64?

        init(lease: SessionLease, listener: Int32, listenerToken: UInt64, manifest: [UInt8]) {
            self.lease = lease
            self.listener = listener
            self.listenerToken = listenerToken
            self.manifest = manifest
        }

        /// What a new connection's filter checks events against (made per accept, not per event).
        var filterDevices: [InputFilter.Device] {
            lease.devices.map { InputFilter.Device(role: $0.role, profile: $0.device.profile) }
        }

        func track(_ before: InputFilter.Modifiers, _ after: InputFilter.Modifiers) {
            ctrlHolders += (after.ctrl ? 1 : 0) - (before.ctrl ? 1 : 0)
            altHolders += (after.alt ? 1 : 0) - (before.alt ? 1 : 0)
        }

        func elsewhere(than own: InputFilter.Modifiers) -> InputFilter.Modifiers {
            InputFilter.Modifiers(ctrl: ctrlHolders - (own.ctrl ? 1 : 0) > 0, alt: altHolders - (own.alt ? 1 : 0) > 0)
        }
    }

    private struct State {
        var leases: [FractalID: LeaseEntry] = [:]
        var registrations: [UInt64: Registration] = [:]
        var nextToken: UInt64 = 1
        var statistics = SessionStatistics()
        var stopping = false
        var readBuffer = [UInt8](repeating: 0, count: 16 * 1024)
        /// No deadline (HELLO, idle, accept back-off) falls before this (monotonic ns); the loop
        /// wakes then to look. Deadlines only move later, so this stays a lower bound.
        var nextDeadline: UInt64 = .max
    }

    public let limits: Limits
    private let logger: Logger
    private let epoll: Int32
    private let wake: Int32
    private let state = Mutex(State())
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// Turns of the loop so far: `isResponsive` wakes the loop and watches this move.
    private let turns = Atomic<UInt64>(0)

    /// Sets up epoll; `start()` begins serving.
    public init(limits: Limits = Limits(), logger: Logger = Logger(label: "fractal.session")) throws(SessionServerError) {
        self.limits = limits
        self.logger = logger
        let epoll = cfl_epoll_create()
        guard epoll >= 0 else { throw SessionServerError(operation: "epoll_create1", path: "", errno: -epoll) }
        let wake = cfl_eventfd()
        guard wake >= 0 else {
            close(epoll)
            throw SessionServerError(operation: "eventfd", path: "", errno: -wake)
        }
        let added = cfl_epoll_add(epoll, wake, UInt32(CFL_EPOLLIN), 0)
        guard added == 0 else {
            close(epoll)
            close(wake)
            throw SessionServerError(operation: "epoll_ctl(ADD eventfd)", path: "", errno: -added)
        }
        self.epoll = epoll
        self.wake = wake
        state.withLock { $0.registrations[0] = .wake }
    }

    deinit {
        close(epoll)
        close(wake)
    }

    /// Starts the loop thread.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            loop()
            finished.signal()
        }
        thread.name = "fractal-session"
        thread.start()
    }

    /// Closes every lease's connections (releasing their held keys) and sockets, and ends the
    /// loop thread. The server cannot be started again. `keepingSockets` leaves each socket file
    /// in place, for a listener kept across a restart (systemd's file-descriptor store) that the
    /// next process serves: connections that arrive meanwhile wait in its backlog.
    public func stop(keepingSockets: Bool = false) {
        let ids = state.withLock { state -> [FractalID] in
            state.stopping = true
            return Array(state.leases.keys)
        }
        for id in ids { removeLease(id, unlinking: !keepingSockets) }
        if started.load(ordering: .acquiring) {
            _ = cfl_eventfd_signal(wake)
            finished.wait()
        }
    }

    /// What has happened so far.
    public var statistics: SessionStatistics {
        state.withLock { $0.statistics }
    }

    /// The lease IDs with a socket.
    public var leaseIDs: [FractalID] {
        state.withLock { Array($0.leases.keys) }
    }

    // MARK: Leases

    /// Makes the lease's socket (mode 0666: the directory it sits in decides who reaches it)
    /// and starts accepting on it. A stale socket file at the path is replaced.
    ///
    /// `adopting` is a listener a previous process made for this lease and kept across a restart
    /// (systemd's file-descriptor store): when it is still listening on the lease's path it is
    /// served as it is, with what waits in its backlog; otherwise it is closed and a new one made.
    public func addLease(_ lease: SessionLease, adopting kept: Int32? = nil) throws(SessionServerError) {
        let path = lease.socketPath
        let manifest = Self.manifest(of: lease)
        try state.withLock { (state: inout State) throws(SessionServerError) in
            guard !state.stopping else { throw SessionServerError(operation: "listen", path: path, errno: ESHUTDOWN, detail: "the session server is stopping") }
            guard state.leases[lease.id] == nil else {
                throw SessionServerError(operation: "listen", path: path, errno: EEXIST, detail: "lease \(lease.id) already has a session socket")
            }
            let listener: Int32
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
                guard listener >= 0 else { throw SessionServerError(operation: "listen", path: path, errno: -listener) }
            }
            guard chmod(path, 0o666) == 0 else {
                let code = errno
                close(listener)
                unlink(path)
                throw SessionServerError(operation: "chmod", path: path, errno: code)
            }
            let token = state.nextToken
            state.nextToken += 1
            let added = cfl_epoll_add(epoll, listener, UInt32(CFL_EPOLLIN), token)
            guard added == 0 else {
                close(listener)
                unlink(path)
                throw SessionServerError(operation: "epoll_ctl(ADD)", path: path, errno: -added)
            }
            state.registrations[token] = .listener(lease.id)
            state.leases[lease.id] = LeaseEntry(
                lease: lease, listener: listener, listenerToken: token, manifest: manifest)
        }
        logger.info("session socket for lease \(lease.id) at \(path) (policy \(lease.policy.rawValue))")
    }

    /// Closes the lease's connections, releasing every key they hold while the devices still
    /// exist, then its listener, and unlinks the socket. Call before the devices close.
    public func removeLease(_ id: FractalID) {
        removeLease(id, unlinking: true)
    }

    private func removeLease(_ id: FractalID, unlinking: Bool) {
        let path: String? = state.withLock { state in
            guard let entry = state.leases.removeValue(forKey: id) else { return nil }
            for connection in Array(entry.connections.values) {
                fatal(connection, .leaseReleased, "lease \(id) was released", state: &state, entry: entry)
            }
            close(entry.listener)
            state.registrations[entry.listenerToken] = nil
            if unlinking { unlink(entry.lease.socketPath) }
            return entry.lease.socketPath
        }
        if let path { logger.info("session socket for lease \(id) closed (\(path))") }
    }

    /// The lease's listening socket, to keep across a restart; it stays owned by the server.
    public func listenerDescriptor(of id: FractalID) -> Int32? {
        state.withLock { $0.leases[id]?.listener }
    }

    /// Whether the loop thread turns within `timeout` of being woken: false when it hangs (a lock
    /// held across a blocked call, a busy loop), for the service manager's watchdog.
    public func isResponsive(within timeout: Duration) -> Bool {
        guard started.load(ordering: .acquiring) else { return true }
        let before = turns.load(ordering: .acquiring)
        _ = cfl_eventfd_signal(wake)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if turns.load(ordering: .acquiring) != before { return true }
            usleep(1_000)
        }
        return turns.load(ordering: .acquiring) != before
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
    /// manifest; the socket stays.
    public func updateLease(_ lease: SessionLease) {
        state.withLock { state in
            guard let entry = state.leases[lease.id] else { return }
            let same = entry.lease.devices.count == lease.devices.count
                && zip(entry.lease.devices, lease.devices).allSatisfy { $0.role == $1.role && $0.device === $1.device }
            if same {
                entry.lease.devices = lease.devices
                entry.manifest = Self.manifest(of: entry.lease)
                return
            }
            for connection in Array(entry.connections.values) {
                fatal(connection, .leaseChanged, "lease \(lease.id)'s devices changed: reconnect for the new manifest", state: &state, entry: entry)
            }
            entry.lease.devices = lease.devices
            entry.manifest = Self.manifest(of: entry.lease)
        }
    }

    /// Passes what a device's programs asked (rumble, LEDs) to the lease's clients, dropping it
    /// for clients that do not read.
    public func forward(_ feedback: DeviceFeedback, lease id: FractalID, role: DeviceRole) {
        state.withLock { state in
            guard let entry = state.leases[id],
                  let index = entry.lease.devices.firstIndex(where: { $0.role == role }),
                  let device = UInt8(exactly: index) else { return }
            let message: SessionMessage = switch feedback {
            case .rumble(_, let strong, let weak, let durationMs): .rumble(device: device, strong: strong, weak: weak, durationMs: durationMs)
            case .rumbleStopped: .rumble(device: device, strong: 0, weak: 0, durationMs: 0)
            case .led(let code, let on): .led(device: device, code: code, on: on)
            }
            let bytes = message.encoded()
            for connection in Array(entry.connections.values) where connection.greeted {
                send(bytes, to: connection, droppable: true, state: &state, entry: entry)
            }
        }
    }

    // MARK: The loop

    private func loop() {
        var events = [cfl_epoll_event](repeating: cfl_epoll_event(), count: 64)
        while true {
            let timeout = state.withLock { Self.milliseconds(until: $0.nextDeadline) }
            let count = events.withUnsafeMutableBufferPointer { cfl_epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            turns.add(1, ordering: .releasing)
            guard count >= 0 else {
                logger.critical("epoll_wait failed: \(String(cString: strerror(-count))) (errno \(-count)); session sockets stop serving")
                return
            }
            for event in events[..<Int(count)] {
                let done = state.withLock { state -> Bool in
                    if state.stopping && state.leases.isEmpty { return true }
                    handle(event, state: &state)
                    return false
                }
                if done { return }
            }
            let stopped = state.withLock { state -> Bool in
                if state.stopping && state.leases.isEmpty { return true }
                if SessionConnection.nowNanoseconds() >= state.nextDeadline { expire(state: &state) }
                return false
            }
            if stopped { return }
        }
    }

    /// epoll_wait's timeout for a deadline: -1 for none, else whole milliseconds, rounded up.
    private static func milliseconds(until deadline: UInt64) -> Int32 {
        guard deadline != .max else { return -1 }
        let now = SessionConnection.nowNanoseconds()
        guard deadline > now else { return 0 }
        return Int32(clamping: (deadline - now + 999_999) / 1_000_000)
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000
    }

    /// Closes connections past their HELLO or idle deadline and resumes paused listeners, then
    /// finds the next deadline.
    private func expire(state: inout State) {
        let now = SessionConnection.nowNanoseconds()
        let hello = Self.nanoseconds(limits.helloTimeout)
        let idle = Self.nanoseconds(limits.idleTimeout)
        var next = UInt64.max
        for entry in Array(state.leases.values) {
            if let until = entry.acceptPausedUntil {
                if now >= until {
                    entry.acceptPausedUntil = nil
                    _ = cfl_epoll_modify(epoll, entry.listener, UInt32(CFL_EPOLLIN), entry.listenerToken)
                } else {
                    next = min(next, until)
                }
            }
            for connection in Array(entry.connections.values) {
                let deadline = connection.greeted ? connection.lastFrameAt &+ idle : connection.acceptedAt &+ hello
                if now >= deadline {
                    state.statistics.timeouts += 1
                    if connection.greeted {
                        fatal(connection, .idleTimeout, "no frame for \(limits.idleTimeout); send PING to keep an idle connection", state: &state, entry: entry)
                    } else {
                        fatal(connection, .helloTimeout, "no HELLO within \(limits.helloTimeout) of connecting", state: &state, entry: entry)
                    }
                } else {
                    next = min(next, deadline)
                }
            }
        }
        state.nextDeadline = next
    }

    private func noteDeadline(_ deadline: UInt64, state: inout State) {
        state.nextDeadline = min(state.nextDeadline, deadline)
    }

    private func handle(_ event: cfl_epoll_event, state: inout State) {
        // A token whose descriptor was closed after epoll_wait returned finds nothing here.
        guard let registration = state.registrations[event.token] else { return }
        switch registration {
        case .wake:
            cfl_eventfd_drain(wake)
        case .listener(let id):
            guard let entry = state.leases[id] else { return }
            accept(on: entry, state: &state)
        case .connection(let connection):
            guard let entry = state.leases[connection.lease] else { return }
            if event.events & UInt32(CFL_EPOLLOUT) != 0 {
                if let code = connection.flush() {
                    disconnect(connection, reason: "send: \(String(cString: strerror(code)))", state: &state, entry: entry)
                    return
                }
                updateInterest(connection)
            }
            if event.events & UInt32(CFL_EPOLLIN | CFL_EPOLLERR | CFL_EPOLLHUP | CFL_EPOLLRDHUP) != 0 {
                read(connection, state: &state, entry: entry)
            }
        }
    }

    private func accept(on entry: LeaseEntry, state: inout State) {
        for _ in 0..<limits.acceptsPerWakeup {
            let fd = cfl_unix_accept(entry.listener)
            guard fd >= 0 else {
                if -fd == EMFILE || -fd == ENFILE {
                    // Level-triggered: the listener stays readable, so stop watching it for a
                    // while rather than spin; the client waits in the backlog.
                    let until = SessionConnection.nowNanoseconds() + Self.nanoseconds(limits.acceptBackoff)
                    entry.acceptPausedUntil = until
                    _ = cfl_epoll_modify(epoll, entry.listener, 0, entry.listenerToken)
                    noteDeadline(until, state: &state)
                    state.statistics.acceptsPaused += 1
                    logger.warning("accept on \(entry.lease.socketPath): \(String(cString: strerror(-fd))); not accepting for \(limits.acceptBackoff)")
                } else if -fd != EAGAIN && -fd != EWOULDBLOCK {
                    logger.warning("accept on \(entry.lease.socketPath): \(String(cString: strerror(-fd)))")
                }
                return
            }
            var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
            let peer = cfl_peer_credentials(fd, &pid, &uid, &gid) == 0 ? "pid \(pid) uid \(uid)" : "unknown peer"
            guard entry.connections.count < limits.connectionsPerLease else {
                state.statistics.connectionsRefused += 1
                state.statistics.errors[.tooManyConnections, default: 0] += 1
                let refusal = SessionMessage.error(.tooManyConnections, message: "lease \(entry.lease.id) has \(limits.connectionsPerLease) connections already").encoded()
                _ = refusal.withUnsafeBytes { cfl_send(fd, $0.baseAddress, $0.count, 1) }
                Glibc.close(fd)
                logger.notice("session \(entry.lease.id): refused a connection from \(peer): \(limits.connectionsPerLease) already open")
                continue
            }
            let token = state.nextToken
            state.nextToken += 1
            let watching = UInt32(CFL_EPOLLIN | CFL_EPOLLRDHUP)
            let added = cfl_epoll_add(epoll, fd, watching, token)
            guard added == 0 else {
                logger.warning("epoll_ctl(ADD) for a session connection: \(String(cString: strerror(-added)))")
                Glibc.close(fd)
                continue
            }
            let connection = SessionConnection(
                fd: fd, token: token, lease: entry.lease.id, peer: peer,
                filter: InputFilter(policy: entry.lease.policy, devices: entry.filterDevices),
                watching: watching, errorBurst: limits.errorBurst)
            entry.connections[token] = connection
            state.registrations[token] = .connection(connection)
            noteDeadline(connection.acceptedAt &+ Self.nanoseconds(limits.helloTimeout), state: &state)
            state.statistics.connectionsAccepted += 1
            state.statistics.connectionsOpen += 1
            logger.debug("session \(entry.lease.id): connection from \(peer)")
        }
    }

    private func read(_ connection: SessionConnection, state: inout State, entry: LeaseEntry) {
        var budget = limits.readBytesPerWakeup
        while budget > 0 && !connection.readingPaused {
            let wanted = min(budget, state.readBuffer.count)
            let got = state.readBuffer.withUnsafeMutableBytes { Glibc.read(connection.fd, $0.baseAddress, wanted) }
            if got == 0 {
                // The client is gone; a frame it left half-sent is dropped with it.
                disconnect(connection, reason: "closed by the client", state: &state, entry: entry)
                return
            }
            if got < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
                disconnect(connection, reason: "read: \(String(cString: strerror(code)))", state: &state, entry: entry)
                return
            }
            budget -= got
            state.readBuffer.withUnsafeBytes { connection.decoder.feed(UnsafeRawBufferPointer(rebasing: $0[..<got])) }
            // One clock read per read(2), not per frame: the idle timeout needs no finer grain.
            let now = SessionConnection.nowNanoseconds()
            while true {
                let frame: SessionFrame?
                do {
                    frame = try connection.decoder.next()
                } catch {
                    fatal(connection, error.code, error.description, state: &state, entry: entry)
                    return
                }
                guard let frame else { break }
                state.statistics.framesReceived += 1
                connection.lastFrameAt = now
                guard handle(frame, from: connection, state: &state, entry: entry) else { return }
            }
        }
    }

    /// Handles one frame; false when the connection was closed.
    private func handle(_ frame: SessionFrame, from connection: SessionConnection, state: inout State, entry: LeaseEntry) -> Bool {
        let message: SessionMessage
        do {
            message = try SessionMessage(frame)
        } catch {
            fatal(connection, error.code, error.description, state: &state, entry: entry)
            return false
        }
        guard connection.greeted else {
            guard case .hello(let version) = message else {
                fatal(connection, .helloRequired, "send HELLO first (got \(frame.type))", state: &state, entry: entry)
                return false
            }
            guard version.major == SessionWire.major else {
                fatal(connection, .versionMismatch, "this daemon speaks version \(SessionVersion.current), not \(version)", state: &state, entry: entry)
                return false
            }
            connection.greeted = true
            noteDeadline(connection.lastFrameAt &+ Self.nanoseconds(limits.idleTimeout), state: &state)
            return send(SessionMessage.welcome(.current, manifest: entry.manifest).encoded(), to: connection, state: &state, entry: entry)
        }
        switch message {
        case .events(let index, let wireEvents):
            return inject(wireEvents, device: Int(index), from: connection, state: &state, entry: entry)
        case .getFDs:
            return handOff(to: connection, state: &state, entry: entry)
        case .ping(let token):
            return send(SessionMessage.pong(token: token).encoded(), to: connection, state: &state, entry: entry)
        case .hello:
            fatal(connection, .helloRequired, "HELLO was already sent", state: &state, entry: entry)
            return false
        default:
            fatal(connection, .unknownType, "\(frame.type) flows from the daemon, not to it", state: &state, entry: entry)
            return false
        }
    }

    private func inject(_ wireEvents: [SessionEvent], device index: Int, from connection: SessionConnection, state: inout State, entry: LeaseEntry) -> Bool {
        state.statistics.eventsReceived += wireEvents.count
        let events = wireEvents.map { InputEvent(type: $0.type, code: $0.code, value: $0.value) }
        // Before the filter, whose held-key state moves as if its events were written.
        if entry.lease.devices.indices.contains(index), !entry.lease.devices[index].plugged {
            return report(.deviceRefused, "device \(index) (\(entry.lease.devices[index].role.rawValue)) is an unplugged hot-plug slot", to: connection, state: &state, entry: entry)
        }
        let before = connection.filter.modifiers
        let outcome = connection.filter.filter(events, device: index, elsewhere: entry.elsewhere(than: before))
        entry.track(before, connection.filter.modifiers)
        state.statistics.drops.add(outcome.drops)
        if let refused = outcome.refused {
            if refused == .noSuchDevice {
                return report(.noSuchDevice, "lease \(entry.lease.id) has no device \(index) (it has \(entry.lease.devices.count))", to: connection, state: &state, entry: entry)
            }
            return report(.deviceRefused, "policy \(entry.lease.policy.rawValue) refuses events to device \(index) (\(entry.lease.devices[index].role.rawValue))", to: connection, state: &state, entry: entry)
        }
        if !outcome.events.isEmpty {
            do {
                try entry.lease.devices[index].device.write(outcome.events)
                state.statistics.eventsWritten += outcome.events.count
                state.statistics.batchesWritten += 1
            } catch {
                if !report(.writeFailed, "\(error)", to: connection, state: &state, entry: entry) { return false }
            }
        }
        if outcome.drops.total > 0, let reason = outcome.drops.main {
            let code: SessionErrorCode = reason == .capability ? .capabilityRefused : .filtered
            return report(code, "dropped \(outcome.drops.total) event(s) for device \(index): \(reason.rawValue)\(outcome.firstDropped.map { " (first: \($0))" } ?? "")", to: connection, state: &state, entry: entry)
        }
        return true
    }

    private func handOff(to connection: SessionConnection, state: inout State, entry: LeaseEntry) -> Bool {
        // An FDS holds references to the lease's descriptors (duplicates here, or in flight in
        // the socket) until the client reads it: one at a time, or a client that asks without
        // reading exhausts the daemon's descriptors and its time.
        if connection.fdsReplyUnread {
            return report(.busy, "an FDS reply is still unread: read it before asking again", to: connection, state: &state, entry: entry)
        }
        var attached: [SessionFDManifest.Attached] = []
        var withheld: [SessionFDManifest.Withheld] = []
        var descriptors: [Int32] = []
        for (index, device) in entry.lease.devices.enumerated() {
            if !device.plugged {
                withheld.append(.init(index: index, role: device.role.rawValue, reason: "an unplugged hot-plug slot"))
            } else if let reason = entry.lease.policy.withholdReason(role: device.role, profile: device.device.profile) {
                withheld.append(.init(index: index, role: device.role.rawValue, reason: reason))
            } else if let fd = device.device.fileDescriptor {
                attached.append(.init(index: index, role: device.role.rawValue))
                descriptors.append(fd)
            } else {
                withheld.append(.init(index: index, role: device.role.rawValue, reason: "the device is closed"))
            }
        }
        let json = (try? JSONEncoder().encode(SessionFDManifest(attached: attached, withheld: withheld))).map { [UInt8]($0) } ?? []
        state.statistics.descriptorsPassed += descriptors.count
        logger.info("session \(entry.lease.id): \(descriptors.count) fd(s) handed to \(connection.peer) (\(attached.map(\.role).joined(separator: ",")))")
        let sent = send(SessionMessage.fds(manifest: json).encoded(), descriptors: descriptors, to: connection, state: &state, entry: entry)
        if sent { connection.sentFDSReply() }
        return sent
    }

    // MARK: Sending and closing

    /// Sends a reply; false when the connection had to be closed.
    @discardableResult
    private func send(_ bytes: [UInt8], descriptors: [Int32] = [], to connection: SessionConnection, droppable: Bool = false, state: inout State, entry: LeaseEntry) -> Bool {
        switch connection.send(bytes, descriptors: descriptors, droppable: droppable) {
        case .sent:
            if droppable { state.statistics.notificationsSent += 1 }
        case .queued:
            if droppable { state.statistics.notificationsSent += 1 }
            updateInterest(connection)
        case .dropped:
            state.statistics.notificationsDropped += 1
        case .failed(let code):
            disconnect(connection, reason: "send: \(String(cString: strerror(code)))", state: &state, entry: entry)
            return false
        }
        return true
    }

    /// A non-fatal ERROR, within the connection's rate; false when the connection had to be closed.
    /// The text is only made when the frame is sent: a flood is mostly over the rate.
    private func report(_ code: SessionErrorCode, _ text: @autoclosure () -> String, to connection: SessionConnection, state: inout State, entry: LeaseEntry) -> Bool {
        state.statistics.errors[code, default: 0] += 1
        guard connection.mayReportError(burst: limits.errorBurst, perSecond: limits.errorsPerSecond) else {
            state.statistics.errorsSuppressed += 1
            return true
        }
        return send(SessionMessage.error(code, message: text()).encoded(), to: connection, state: &state, entry: entry)
    }

    /// Sends a fatal ERROR (best effort: never waits for the client) and closes.
    private func fatal(_ connection: SessionConnection, _ code: SessionErrorCode, _ text: String, state: inout State, entry: LeaseEntry) {
        state.statistics.errors[code, default: 0] += 1
        _ = connection.send(SessionMessage.error(code, message: text).encoded())
        _ = connection.flush()
        disconnect(connection, reason: "\(code): \(text)", state: &state, entry: entry)
    }

    /// Releases the keys the connection holds, then closes it.
    private func disconnect(_ connection: SessionConnection, reason: String, state: inout State, entry: LeaseEntry) {
        entry.track(connection.filter.modifiers, .none)
        for (index, events) in connection.filter.releaseAll() {
            do {
                try entry.lease.devices[index].device.write(events)
                state.statistics.releasesWritten += events.count - 1
            } catch {
                logger.warning("session \(entry.lease.id): releasing the keys of a closed connection on device \(index): \(error)")
            }
        }
        // Closing the descriptor also takes it out of the epoll set.
        connection.closeDescriptors()
        entry.connections[connection.token] = nil
        state.registrations[connection.token] = nil
        state.statistics.connectionsClosed += 1
        state.statistics.connectionsOpen -= 1
        logger.debug("session \(entry.lease.id): connection from \(connection.peer) closed: \(reason)")
    }

    /// Watches for EPOLLOUT while replies are queued, and stops reading while too much is.
    private func updateInterest(_ connection: SessionConnection) {
        connection.readingPaused = connection.outgoingBytes >= limits.queuedBytesPausingReads
        var wanted = UInt32(CFL_EPOLLRDHUP)
        if !connection.readingPaused { wanted |= UInt32(CFL_EPOLLIN) }
        if !connection.outgoing.isEmpty { wanted |= UInt32(CFL_EPOLLOUT) }
        guard wanted != connection.watching else { return }
        if cfl_epoll_modify(epoll, connection.fd, wanted, connection.token) == 0 { connection.watching = wanted }
    }

    // MARK: Manifest

    static func manifest(of lease: SessionLease) -> [UInt8] {
        let devices = lease.devices.enumerated().map { index, device in
            let profile = device.device.profile
            let capabilities = profile.codes.keys.sorted().compactMap { type -> SessionManifest.Capability? in
                guard type != UInt16(EV_REP), type != UInt16(EV_FF), type != UInt16(EV_LED), let codes = profile.codes[type], !codes.isEmpty else { return nil }
                return SessionManifest.Capability(type: type, name: typeName(type), codes: codes.sorted())
            } + (profile.axes.isEmpty ? [] : [SessionManifest.Capability(type: UInt16(EV_ABS), name: "EV_ABS", codes: profile.axes.map(\.code).sorted())])
            return SessionManifest.Device(
                index: index, role: device.role.rawValue, name: device.name,
                nodes: device.nodes.map { SessionManifest.Node(kind: $0.kind, path: $0.path, major: $0.major, minor: $0.minor) },
                capabilities: capabilities.sorted { $0.type < $1.type },
                axes: profile.axes.map { SessionManifest.Axis(code: $0.code, minimum: $0.minimum, maximum: $0.maximum) },
                plugged: device.plugged)
        }
        let manifest = SessionManifest(lease: lease.id.rawValue, policy: lease.policy.rawValue, devices: devices)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(manifest)).map { [UInt8]($0) } ?? []
    }

    private static func typeName(_ type: UInt16) -> String {
        cuinput_event_type_name(UInt32(type)).map { String(cString: $0) } ?? "type \(type)"
    }
}

extension InputFilter.DropCounts {
    mutating func add(_ other: InputFilter.DropCounts) {
        for reason in InputFilter.DropReason.allCases { self[reason] += other[reason] }
    }
}
