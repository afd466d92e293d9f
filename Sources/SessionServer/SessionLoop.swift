import CFractalLinux
import DeviceManager
import Foundation
import FractalSessionProtocol
import FractalSystem
import Logging
import Synchronization

/// The one thread that serves every session socket and every device's feedback: epoll over the
/// listeners, the connections and the devices' uinput descriptors, woken by an eventfd when
/// another thread posts a command. It owns the registry and the dispatcher; nothing else
/// touches them while it runs, so no lock is held across any read, write or send.
///
/// Fairness: each wake-up reads at most `readBytesPerWakeup` from a connection and accepts at
/// most `acceptsPerWakeup` on a listener, so a flooding or slow client delays no other lease by
/// more than that; the kernel's socket buffer is the back-pressure on a client that sends faster
/// than the loop takes (its reads pause while its replies are not read).
final class SessionLoop: @unchecked Sendable {
    typealias Command = @Sendable (SessionLoop) -> Void

    let registry = SessionRegistry()
    let dispatcher: SessionDispatcher
    let limits: SessionServer.Limits
    let logger: Logger
    let epoll: Int32
    private let wake: Int32

    private struct Mailbox {
        var commands: [Command] = []
        /// While the thread runs, commands go to it; before and after, they run on the caller,
        /// under this lock, which keeps them one at a time.
        var running = false
    }
    private let mailbox = Mutex(Mailbox())
    private let finished = DispatchSemaphore(value: 0)
    /// Turns of the loop so far, for tests and the watchdog's log.
    let turns = Atomic<UInt64>(0)
    /// The loop thread's pthread_self(), so that a command posted from the loop itself runs at
    /// once instead of waiting for the loop forever.
    private let loopThread = Atomic<UInt>(0)

    /// Every connection's bytes pass through here: what is left of a frame from the last read,
    /// then what this read brought, parsed in place.
    private let receive: UnsafeMutableRawBufferPointer
    /// The most a connection can carry over between reads: one frame less a byte.
    private static let carryLimit = SessionWire.headerSize + SessionWire.maximumPayload

    init(limits: SessionServer.Limits, logger: Logger) throws(SessionServerError) {
        self.limits = limits
        self.logger = logger
        let epoll = cfl_epoll_create()
        guard epoll >= 0 else { throw SessionServerError(operation: "epoll_create1", path: "", errno: -epoll) }
        let wake = cfl_eventfd()
        guard wake >= 0 else {
            close(epoll)
            throw SessionServerError(operation: "eventfd", path: "", errno: -wake)
        }
        let added = cfl_epoll_add(epoll, wake, UInt32(CFL_EPOLLIN), SessionRegistry.wakeToken)
        guard added == 0 else {
            close(epoll)
            close(wake)
            throw SessionServerError(operation: "epoll_ctl(ADD eventfd)", path: "", errno: -added)
        }
        self.epoll = epoll
        self.wake = wake
        dispatcher = SessionDispatcher(registry: registry, limits: limits, logger: logger, epoll: epoll)
        receive = .allocate(byteCount: Self.carryLimit + limits.readBytesPerWakeup, alignment: 16)
        dispatcher.loop = self
    }

    deinit {
        receive.deallocate()
        close(epoll)
        close(wake)
    }

    // MARK: Commands

    /// Runs `command` on the loop (or here, while it is not running) and returns its result.
    func perform<Result: Sendable>(_ command: @escaping @Sendable (SessionLoop) -> Result) -> Result {
        if loopThread.load(ordering: .acquiring) == UInt(pthread_self()) {
            return command(self)
        }
        let reply = Reply<Result>()
        let ranHere = mailbox.withLock { mailbox -> Bool in
            guard mailbox.running else {
                reply.value = command(self)
                return true
            }
            mailbox.commands.append { loop in
                reply.value = command(loop)
                reply.done.signal()
            }
            return false
        }
        if !ranHere {
            _ = cfl_eventfd_signal(wake)
            reply.done.wait()
        }
        return reply.value!
    }

    /// Whether the loop runs a command within `timeout`: false when it hangs (a blocked call, a
    /// busy loop), for the service manager's watchdog. A command left queued by a hung loop is
    /// harmless: it only signals.
    func answers(within timeout: Duration) -> Bool {
        let answered = DispatchSemaphore(value: 0)
        let queued = mailbox.withLock { mailbox -> Bool in
            guard mailbox.running else { return false }
            mailbox.commands.append { _ in answered.signal() }
            return true
        }
        guard queued else { return true }
        _ = cfl_eventfd_signal(wake)
        return answered.wait(timeout: .now() + .nanoseconds(Int(timeout.wholeNanoseconds))) == .success
    }

    private func runCommands() {
        cfl_eventfd_drain(wake)
        let commands = mailbox.withLock { mailbox in
            defer { mailbox.commands = [] }
            return mailbox.commands
        }
        for command in commands { command(self) }
    }

    // MARK: The thread

    func start() {
        let begin = mailbox.withLock { mailbox -> Bool in
            guard !mailbox.running, !registry.stopping else { return false }
            mailbox.running = true
            return true
        }
        guard begin else { return }
        let thread = Thread { [self] in
            loopThread.store(UInt(pthread_self()), ordering: .releasing)
            loop()
            loopThread.store(0, ordering: .releasing)
            // Commands that came after the last turn run here, then callers run their own.
            let late = mailbox.withLock { mailbox in
                mailbox.running = false
                defer { mailbox.commands = [] }
                return mailbox.commands
            }
            for command in late { command(self) }
            finished.signal()
        }
        thread.name = "fractal-session"
        thread.start()
    }

    /// Wakes the loop so that it sees `stopping` and ends; waits for its thread to end.
    func join() {
        let running = mailbox.withLock { $0.running }
        guard running else { return }
        _ = cfl_eventfd_signal(wake)
        finished.wait()
    }

    private func loop() {
        var events = [cfl_epoll_event](repeating: cfl_epoll_event(), count: 64)
        let busyPoll = limits.busyPoll.wholeNanoseconds
        var pollUntil: UInt64 = 0
        while !(registry.stopping && registry.leases.isEmpty) {
            var timeout = Self.milliseconds(until: min(registry.nextDeadline, registry.quietDevices.first?.until ?? .max, registry.typingDue.first?.until ?? .max))
            if busyPoll > 0 && timeout != 0 {
                if Self.preciseNanoseconds() < pollUntil { timeout = 0 }
            }
            let count = events.withUnsafeMutableBufferPointer { cfl_epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            turns.add(1, ordering: .releasing)
            guard count >= 0 else {
                logger.critical("epoll_wait failed: \(String(cString: strerror(-count))) (errno \(-count)); session sockets stop serving")
                return
            }
            for event in events[..<Int(count)] { handle(event) }
            if busyPoll > 0, events[..<Int(count)].contains(where: { registry.registrations[$0.token].isConnection }) {
                pollUntil = Self.preciseNanoseconds() &+ busyPoll
            }
            let now = SessionConnection.nowNanoseconds()
            if let first = registry.quietDevices.first, now >= first.until { watchQuietDevices(now: now) }
            if let first = registry.typingDue.first, now >= first.until { typeDue(now: now) }
            if now >= registry.nextDeadline { expire() }
        }
    }

    private func handle(_ event: cfl_epoll_event) {
        // A token whose descriptor was closed after epoll_wait returned finds nothing here.
        guard let registration = registry.registrations[event.token] else { return }
        switch registration {
        case .wake:
            runCommands()
        case .listener(let id):
            guard let entry = registry.leases[id] else { return }
            accept(on: entry)
        case .connection(let connection):
            guard let entry = connection.entry else { return }
            if event.events & UInt32(CFL_EPOLLOUT) != 0 {
                if let code = connection.flush() {
                    dispatcher.disconnect(connection, reason: "send: \(String(cString: strerror(code)))", entry: entry)
                    return
                }
                dispatcher.updateInterest(connection)
            }
            if event.events & UInt32(CFL_EPOLLIN | CFL_EPOLLERR | CFL_EPOLLHUP | CFL_EPOLLRDHUP) != 0 {
                read(connection, entry: entry)
            }
        case .device(let id, let index, _):
            guard let entry = registry.leases[id], entry.lease.devices.indices.contains(index) else { return }
            if dispatcher.serveFeedback(of: entry, device: index) {
                rearm(event.token)
            } else {
                // Only echoes (EV_MSC) or an answered upload: rest a moment before watching again.
                let until = SessionConnection.nowNanoseconds() &+ limits.feedbackQuietDelay.wholeNanoseconds
                registry.quietDevices.append((event.token, until))
            }
        }
    }

    /// Watches again the devices whose quiet delay is over. They were added in time order (one
    /// delay for all), so the due ones are a prefix.
    private func watchQuietDevices(now: UInt64) {
        let due = registry.quietDevices.prefix { $0.until <= now }.count
        for device in registry.quietDevices[..<due] { rearm(device.token) }
        registry.quietDevices.removeFirst(due)
    }

    /// Watches a device's descriptor again (one-shot), but only while the same device still holds
    /// the same descriptor, so a closed device's number, reused by another file, is never watched.
    private func rearm(_ token: UInt64) {
        guard case .device(let id, let index, let fd)? = registry.registrations[token],
              let entry = registry.leases[id], entry.lease.devices.indices.contains(index),
              entry.lease.devices[index].device.fileDescriptor == fd else { return }
        _ = cfl_epoll_modify(epoll, fd, UInt32(CFL_EPOLLIN) | CFL_EPOLLONESHOT, token)
    }

    // MARK: Connections

    private func accept(on entry: SessionRegistry.LeaseEntry) {
        for _ in 0..<limits.acceptsPerWakeup {
            let fd = cfl_unix_accept(entry.listener)
            guard fd >= 0 else {
                if -fd == EMFILE || -fd == ENFILE {
                    // Level-triggered: the listener stays readable, so stop watching it for a
                    // while rather than spin; the client waits in the backlog.
                    let until = SessionConnection.nowNanoseconds() + limits.acceptBackoff.wholeNanoseconds
                    entry.acceptPausedUntil = until
                    _ = cfl_epoll_modify(epoll, entry.listener, 0, entry.listenerToken)
                    registry.noteDeadline(until)
                    registry.statistics.acceptsPaused += 1
                    logger.warning("accept on \(entry.lease.socketPath): \(String(cString: strerror(-fd))); not accepting for \(limits.acceptBackoff)")
                } else if -fd != EAGAIN && -fd != EWOULDBLOCK {
                    logger.warning("accept on \(entry.lease.socketPath): \(String(cString: strerror(-fd)))")
                }
                return
            }
            var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
            let peer = cfl_peer_credentials(fd, &pid, &uid, &gid) == 0 ? "pid \(pid) uid \(uid)" : "unknown peer"
            guard entry.connections.count < limits.connectionsPerLease else {
                registry.statistics.connectionsRefused += 1
                registry.statistics.errors[.tooManyConnections, default: 0] += 1
                let refusal = SessionMessage.error(.tooManyConnections, message: "lease \(entry.lease.id) has \(limits.connectionsPerLease) connections already").encoded()
                _ = refusal.withUnsafeBytes { cfl_send(fd, $0.baseAddress, $0.count, 1) }
                Glibc.close(fd)
                logger.notice("session \(entry.lease.id): refused a connection from \(peer): \(limits.connectionsPerLease) already open")
                continue
            }
            let token = registry.newToken()
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
            connection.entry = entry
            entry.connections[token] = connection
            registry.registrations[token] = .connection(connection)
            registry.noteDeadline(connection.acceptedAt &+ limits.helloTimeout.wholeNanoseconds)
            registry.statistics.connectionsAccepted += 1
            registry.statistics.connectionsOpen += 1
            logger.debug("session \(entry.lease.id): connection from \(peer)")
        }
    }

    /// Reads what the connection sent, up to the per-wake-up budget, and handles every whole
    /// frame where it lies in the receive buffer; a frame cut by the read is carried to the next.
    /// Every whole frame of a read is handled even when its replies pause reading (they are
    /// bounded by what one read holds), so what is carried is always less than one frame.
    private func read(_ connection: SessionConnection, entry: SessionRegistry.LeaseEntry) {
        var budget = limits.readBytesPerWakeup
        while budget > 0 && !connection.readingPaused {
            let carried = connection.carried.count
            if carried > 0 {
                connection.carried.withUnsafeBytes { receive.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: carried) }
                connection.carried = []
            }
            let wanted = min(budget, receive.count - carried)
            let got = Glibc.read(connection.fd, receive.baseAddress! + carried, wanted)
            if got == 0 {
                // The client is gone; a frame it left half-sent is dropped with it.
                dispatcher.disconnect(connection, reason: "closed by the client", entry: entry)
                return
            }
            if got < 0 {
                let code = errno
                if carried > 0 { connection.carried = [UInt8](UnsafeRawBufferPointer(rebasing: receive[..<carried])) }
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
                dispatcher.disconnect(connection, reason: "read: \(String(cString: strerror(code)))", entry: entry)
                return
            }
            budget -= got
            // One clock read per read(2), not per frame: the idle timeout needs no finer grain.
            connection.lastFrameAt = SessionConnection.nowNanoseconds()
            let available = UnsafeRawBufferPointer(rebasing: receive[..<(carried + got)])
            guard let offset = handleFrames(available, from: connection, entry: entry) else { return }
            if offset < available.count {
                connection.carried = [UInt8](UnsafeRawBufferPointer(rebasing: available[offset...]))
            }
            // A short read drained the socket: epoll (level-triggered) says when more comes, so
            // no read is spent on EAGAIN.
            if got < wanted { return }
        }
    }

    /// Handles the whole frames at the start of `bytes`; returns how many bytes they took, or
    /// nil when the connection was closed. Stops after a TEXT that is still being typed: the
    /// frames after it wait (in `carried`) for `resume`.
    private func handleFrames(_ bytes: UnsafeRawBufferPointer, from connection: SessionConnection, entry: SessionRegistry.LeaseEntry) -> Int? {
        var offset = 0
        while bytes.count - offset >= SessionWire.headerSize && connection.text == nil {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let header: SessionFrameHeader
            do {
                header = try SessionFrameHeader(rest)
            } catch {
                dispatcher.fatal(connection, error.code, error.description, entry: entry)
                return nil
            }
            guard rest.count >= header.frameSize else { break }
            let frame = UnsafeRawBufferPointer(rebasing: rest[..<header.frameSize])
            guard dispatcher.handle(header, frame, from: connection, entry: entry) else { return nil }
            offset += header.frameSize
        }
        // The events of the read's last frames, gathered for one write(2).
        guard dispatcher.flushPending() else { return nil }
        return offset
    }

    /// After a connection's text is typed: handles the frames that waited for it, then reads again.
    func resume(_ connection: SessionConnection, entry: SessionRegistry.LeaseEntry) {
        let waiting = connection.carried
        connection.carried = []
        guard let handled = waiting.withUnsafeBytes({ handleFrames($0, from: connection, entry: entry) }) else { return }
        if handled < waiting.count { connection.carried = Array(waiting[handled...]) }
        dispatcher.updateInterest(connection)
    }

    /// Types the next batch of each connection whose text is due (in time order: one interval
    /// for all), and resumes those whose text is done.
    private func typeDue(now: UInt64) {
        let due = registry.typingDue.prefix { $0.until <= now }.map(\.token)
        registry.typingDue.removeFirst(due.count)
        for token in due {
            guard case .connection(let connection)? = registry.registrations[token], let entry = connection.entry else { continue }
            guard dispatcher.typeNext(connection, entry: entry) else { continue }
            if connection.text == nil { resume(connection, entry: entry) }
        }
    }

    // MARK: Deadlines

    /// CLOCK_MONOTONIC, for the busy-poll window only (microseconds matter there).
    private static func preciseNanoseconds() -> UInt64 {
        SessionConnection.nowNanoseconds(clock: CLOCK_MONOTONIC)
    }

    /// epoll_wait's timeout for a deadline: -1 for none, else whole milliseconds, rounded up.
    private static func milliseconds(until deadline: UInt64) -> Int32 {
        guard deadline != .max else { return -1 }
        let now = SessionConnection.nowNanoseconds()
        guard deadline > now else { return 0 }
        return Int32(clamping: (deadline - now + 999_999) / 1_000_000)
    }

    /// Closes connections past their HELLO or idle deadline and resumes paused listeners, then
    /// finds the next deadline.
    private func expire() {
        let now = SessionConnection.nowNanoseconds()
        let hello = limits.helloTimeout.wholeNanoseconds
        let idle = limits.idleTimeout.wholeNanoseconds
        var next = UInt64.max
        for entry in Array(registry.leases.values) {
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
                    registry.statistics.timeouts += 1
                    if connection.greeted {
                        dispatcher.fatal(connection, .idleTimeout, "no frame for \(limits.idleTimeout); send PING to keep an idle connection", entry: entry)
                    } else {
                        dispatcher.fatal(connection, .helloTimeout, "no HELLO within \(limits.helloTimeout) of connecting", entry: entry)
                    }
                } else {
                    next = min(next, deadline)
                }
            }
        }
        registry.nextDeadline = next
    }

    // MARK: Devices

    /// Watches each plugged device's uinput descriptor for feedback (one-shot, armed again after
    /// each read).
    func watchDevices(of entry: SessionRegistry.LeaseEntry) {
        for (index, device) in entry.lease.devices.enumerated() where device.plugged {
            guard let fd = device.device.fileDescriptor else { continue }
            let token = registry.newToken()
            let added = cfl_epoll_add(epoll, fd, UInt32(CFL_EPOLLIN) | CFL_EPOLLONESHOT, token)
            guard added == 0 else {
                logger.warning("lease \(entry.lease.id) \(device.role.rawValue): cannot watch its feedback: epoll_ctl(ADD): \(String(cString: strerror(-added)))")
                continue
            }
            registry.registrations[token] = .device(entry.lease.id, index: index, fd: fd)
            entry.deviceTokens.append(token)
        }
    }

    /// Stops watching the lease's devices. Run while they are open (before release or unplug
    /// closes them); a device already closed left the epoll set when it closed.
    func unwatchDevices(of entry: SessionRegistry.LeaseEntry) {
        for token in entry.deviceTokens {
            guard case .device(_, let index, let fd)? = registry.registrations.removeValue(forKey: token) else { continue }
            if entry.lease.devices.indices.contains(index), entry.lease.devices[index].device.fileDescriptor == fd {
                _ = cfl_epoll_remove(epoll, fd)
            }
        }
        entry.deviceTokens = []
    }
}

/// A command's result, handed from the loop's thread to the caller's.
private final class Reply<Value>: @unchecked Sendable {
    var value: Value?
    let done = DispatchSemaphore(value: 0)
}
