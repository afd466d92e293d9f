import CFractalLinux
import CUInput
import DeviceManager
import Foundation
import FractalSessionProtocol
import FractalSystem
import Logging

/// What the loop does with each whole frame a client sent, and with each device's feedback: the
/// protocol's side of the session socket. Confined to the loop, like the registry it works on.
final class SessionDispatcher {
    typealias LeaseEntry = SessionRegistry.LeaseEntry

    let registry: SessionRegistry
    let limits: SessionServer.Limits
    let logger: Logger
    /// For EPOLLOUT and read pauses as replies queue and drain.
    private let epoll: Int32
    /// Where an EVENTS frame's events go from the receive buffer: the kernel's layout, filtered
    /// in place, written as it is. TEXT's batches go the same way.
    let batch = InputEventBatch(capacity: SessionWire.maximumEventsPerFrame)
    /// Whose filtered events wait in `batch`: consecutive EVENTS frames of one read for one
    /// device gather there and go to the kernel in one write(2) (`flushPending`), which the loop
    /// does before anything else is handled and at the end of every read, so a frame never
    /// waits for the next read, nor a reply for the write of the frames sent before it.
    private var pending: (connection: SessionConnection, entry: LeaseEntry, device: Int)?
    /// The layouts TEXT frames named, compiled (`SessionText.swift`).
    let layouts = KeyboardLayoutCache()
    /// The loop that owns this, for what comes back from another thread (a compiled layout)
    /// and for frames that waited while text was typed.
    weak var loop: SessionLoop?

    init(registry: SessionRegistry, limits: SessionServer.Limits, logger: Logger, epoll: Int32) {
        self.registry = registry
        self.limits = limits
        self.logger = logger
        self.epoll = epoll
    }

    // MARK: Frames

    /// Handles one frame whose bytes are `frame` (header included, checked); false when the
    /// connection was closed.
    func handle(_ header: SessionFrameHeader, _ frame: UnsafeRawBufferPointer, from connection: SessionConnection, entry: LeaseEntry) -> Bool {
        registry.statistics.framesReceived += 1
        let payload = UnsafeRawBufferPointer(rebasing: frame[SessionWire.headerSize...])
        // The hot path: events go from the receive buffer into the batch, with no message between.
        if header.type == .events && connection.greeted {
            let events: SessionEventsHeader
            do {
                events = try SessionEventsHeader(payload)
            } catch {
                fatal(connection, error.code, error.description, entry: entry)
                return false
            }
            let device = Int(events.device)
            if let waiting = pending, waiting.connection !== connection || waiting.device != device || batch.count + Int(events.count) > batch.capacity {
                guard flushPending() else { return false }
            }
            let start = batch.count
            batch.append(wire: UnsafeRawBufferPointer(rebasing: payload[SessionWire.eventsHeaderSize...]), count: Int(events.count))
            return filter(device: device, from: start, connection: connection, entry: entry) != .closed
        }
        // Whatever else comes (a PING, TEXT, GET_FDS) comes after the events sent before it.
        guard flushPending() else { return false }
        let message: SessionMessage
        do {
            message = try SessionMessage(SessionFrame(type: header.type, payload: [UInt8](payload)))
        } catch {
            fatal(connection, error.code, error.description, entry: entry)
            return false
        }
        guard connection.greeted else {
            guard case .hello(let version) = message else {
                fatal(connection, .helloRequired, "send HELLO first (got \(header.type))", entry: entry)
                return false
            }
            guard version.major == SessionWire.major else {
                fatal(connection, .versionMismatch, "this daemon speaks version \(SessionVersion.current), not \(version)", entry: entry)
                return false
            }
            connection.greeted = true
            connection.minor = version.minor
            registry.noteDeadline(connection.lastFrameAt &+ limits.idleTimeout.wholeNanoseconds)
            return send(SessionMessage.welcome(.current, manifest: entry.manifest).encoded(), to: connection, entry: entry)
        }
        switch message {
        case .getFDs:
            return handOff(to: connection, entry: entry)
        case .ping(let token):
            return send(SessionMessage.pong(token: token).encoded(), to: connection, entry: entry)
        case .text(let device, let layout, let text):
            return typeText(text, layout: layout, device: device, from: connection, entry: entry)
        case .hello:
            fatal(connection, .helloRequired, "HELLO was already sent", entry: entry)
            return false
        default:
            fatal(connection, .unknownType, "\(header.type) flows from the daemon, not to it", entry: entry)
            return false
        }
    }

    /// What injecting a batch came to.
    enum Injection {
        /// Written (less what the filter dropped, which was reported).
        case delivered
        /// Nothing written: no such device, refused, or the write failed (reported).
        case refused
        /// The connection had to be closed.
        case closed
    }

    /// Filters the batch in place and writes what is left to the device at `index` (TEXT's
    /// batches, which are paced and so never gather).
    func inject(device index: Int, from connection: SessionConnection, entry: LeaseEntry) -> Injection {
        assert(pending == nil, "a TEXT batch while EVENTS wait unwritten")
        let filtered = filter(device: index, from: 0, connection: connection, entry: entry)
        guard filtered == .delivered else { return filtered }
        return writePending()
    }

    /// Filters the events in the batch from `start` on (one frame's, for the device at `index`)
    /// in place and leaves what passes waiting there for `flushPending`; reports what was dropped.
    private func filter(device index: Int, from start: Int, connection: SessionConnection, entry: LeaseEntry) -> Injection {
        registry.statistics.eventsReceived += batch.count - start
        // Before the filter, whose held-key state moves as if its events were written.
        if entry.lease.devices.indices.contains(index), !entry.lease.devices[index].plugged {
            batch.removeLast(from: start)
            return report(.deviceRefused, "device \(index) (\(entry.lease.devices[index].role.rawValue)) is an unplugged hot-plug slot", to: connection, entry: entry) ? .refused : .closed
        }
        let before = connection.filter.modifiers
        let verdict = connection.filter.filter(batch, device: index, elsewhere: entry.elsewhere(than: before), from: start)
        entry.track(before, connection.filter.modifiers)
        if batch.count > 0 { pending = (connection, entry, index) }
        // Most batches drop nothing: the counts are only added up when something was dropped.
        if verdict.firstDropped != nil || verdict.refused != nil { registry.statistics.drops.add(verdict.drops) }
        if let refused = verdict.refused {
            if refused == .noSuchDevice {
                return report(.noSuchDevice, "lease \(entry.lease.id) has no device \(index) (it has \(entry.lease.devices.count))", to: connection, entry: entry) ? .refused : .closed
            }
            return report(.deviceRefused, "policy \(entry.lease.policy.rawValue) refuses events to device \(index) (\(entry.lease.devices[index].role.rawValue))", to: connection, entry: entry) ? .refused : .closed
        }
        if verdict.firstDropped != nil, let reason = verdict.drops.main {
            let code: SessionErrorCode = reason == .capability ? .capabilityRefused : .filtered
            return report(code, "dropped \(verdict.drops.total) event(s) for device \(index): \(reason.rawValue)\(verdict.firstDropped.map { " (first: \($0))" } ?? "")", to: connection, entry: entry) ? .delivered : .closed
        }
        return .delivered
    }

    /// Writes the events waiting in the batch with one write(2); false when their connection had
    /// to be closed. A device closed under them (released, unplugged) takes none: dropped with an
    /// ERROR, never written elsewhere.
    @discardableResult
    func flushPending() -> Bool { writePending() != .closed }

    private func writePending() -> Injection {
        guard let (connection, entry, index) = pending else { return .delivered }
        pending = nil
        defer { batch.removeAll() }
        do {
            try entry.lease.devices[index].device.write(batch)
            registry.statistics.eventsWritten += batch.count
            registry.statistics.batchesWritten += 1
        } catch {
            return report(.writeFailed, "\(error)", to: connection, entry: entry) ? .refused : .closed
        }
        return .delivered
    }

    private func handOff(to connection: SessionConnection, entry: LeaseEntry) -> Bool {
        // An FDS holds references to the lease's descriptors (duplicates here, or in flight in
        // the socket) until the client reads it: one at a time, or a client that asks without
        // reading exhausts the daemon's descriptors and its time.
        if connection.fdsReplyUnread {
            return report(.busy, "an FDS reply is still unread: read it before asking again", to: connection, entry: entry)
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
        registry.statistics.descriptorsPassed += descriptors.count
        logger.info("session \(entry.lease.id): \(descriptors.count) fd(s) handed to \(connection.peer) (\(attached.map(\.role).joined(separator: ",")))")
        let sent = send(SessionMessage.fds(manifest: json).encoded(), descriptors: descriptors, to: connection, entry: entry)
        if sent { connection.sentFDSReply() }
        return sent
    }

    // MARK: Feedback

    /// Serves the device's pending feedback (a program's force-feedback upload waits for it)
    /// and passes rumble and LED changes to the lease's clients, dropped for clients that do
    /// not read. Returns whether there was any to pass on.
    func serveFeedback(of entry: LeaseEntry, device index: Int) -> Bool {
        let device = entry.lease.devices[index]
        let feedback: [DeviceFeedback]
        do {
            feedback = try device.device.readFeedback()
        } catch {
            logger.debug("lease \(entry.lease.id) \(device.role.rawValue): reading feedback failed: \(error)")
            return false
        }
        guard let wireIndex = UInt8(exactly: index) else { return !feedback.isEmpty }
        for item in feedback {
            registry.statistics.feedbackRead += 1
            logger.debug("lease \(entry.lease.id) \(device.role.rawValue): \(item)")
            let message: SessionMessage = switch item {
            case .rumble(_, let strong, let weak, let durationMs): .rumble(device: wireIndex, strong: strong, weak: weak, durationMs: durationMs)
            case .rumbleStopped: .rumble(device: wireIndex, strong: 0, weak: 0, durationMs: 0)
            case .led(let code, let on): .led(device: wireIndex, code: code, on: on)
            case .lightbar(let red, let green, let blue): .lightbar(device: wireIndex, red: red, green: green, blue: blue)
            case .playerLights(let mask): .playerLights(device: wireIndex, mask: mask)
            }
            let bytes = message.encoded()
            // A client of an earlier minor would take a type it does not know for a broken stream.
            let minor = message.type.minorVersion
            for connection in Array(entry.connections.values) where connection.greeted && connection.minor >= minor {
                send(bytes, to: connection, droppable: true, entry: entry)
            }
        }
        return !feedback.isEmpty
    }

    // MARK: Sending and closing

    /// Sends a reply; false when the connection had to be closed.
    @discardableResult
    func send(_ bytes: [UInt8], descriptors: [Int32] = [], to connection: SessionConnection, droppable: Bool = false, entry: LeaseEntry) -> Bool {
        switch connection.send(bytes, descriptors: descriptors, droppable: droppable) {
        case .sent:
            if droppable { registry.statistics.notificationsSent += 1 }
        case .queued:
            if droppable { registry.statistics.notificationsSent += 1 }
            updateInterest(connection)
        case .dropped:
            registry.statistics.notificationsDropped += 1
        case .failed(let code):
            disconnect(connection, reason: "send: \(String(cString: strerror(code)))", entry: entry)
            return false
        }
        return true
    }

    /// A non-fatal ERROR, within the connection's rate; false when the connection had to be closed.
    /// The text is only made when the frame is sent: a flood is mostly over the rate.
    func report(_ code: SessionErrorCode, _ text: @autoclosure () -> String, to connection: SessionConnection, entry: LeaseEntry) -> Bool {
        registry.statistics.errors[code, default: 0] += 1
        guard connection.mayReportError(burst: limits.errorBurst, perSecond: limits.errorsPerSecond) else {
            registry.statistics.errorsSuppressed += 1
            return true
        }
        return send(SessionMessage.error(code, message: text()).encoded(), to: connection, entry: entry)
    }

    /// Sends a fatal ERROR (best effort: never waits for the client) and closes.
    func fatal(_ connection: SessionConnection, _ code: SessionErrorCode, _ text: String, entry: LeaseEntry) {
        registry.statistics.errors[code, default: 0] += 1
        _ = connection.send(SessionMessage.error(code, message: text).encoded())
        _ = connection.flush()
        disconnect(connection, reason: "\(code): \(text)", entry: entry)
    }

    /// Releases the keys the connection holds, then closes it; its events still waiting are
    /// written first, as the keys held were counted with them.
    func disconnect(_ connection: SessionConnection, reason: String, entry: LeaseEntry) {
        if let waiting = pending, waiting.connection === connection {
            pending = nil
            do { try entry.lease.devices[waiting.device].device.write(batch) } catch {
                logger.debug("session \(entry.lease.id): the last events of a closed connection on device \(waiting.device): \(error)")
            }
            batch.removeAll()
        }
        entry.track(connection.filter.modifiers, .none)
        for (index, events) in connection.filter.releaseAll() {
            do {
                try entry.lease.devices[index].device.write(events)
                registry.statistics.releasesWritten += events.count - 1
            } catch {
                logger.warning("session \(entry.lease.id): releasing the keys of a closed connection on device \(index): \(error)")
            }
        }
        // Closing the descriptor also takes it out of the epoll set.
        connection.closeDescriptors()
        connection.entry = nil
        entry.connections[connection.token] = nil
        registry.registrations[connection.token] = nil
        registry.statistics.connectionsClosed += 1
        registry.statistics.connectionsOpen -= 1
        logger.debug("session \(entry.lease.id): connection from \(connection.peer) closed: \(reason)")
    }

    /// Watches for EPOLLOUT while replies are queued, and stops reading while too much is.
    /// While text is typed nothing is read or flushed, and the socket is watched one-shot: a
    /// hang-up, which epoll always reports, would otherwise wake the loop at every turn.
    func updateInterest(_ connection: SessionConnection) {
        connection.readingPaused = connection.outgoingBytes >= limits.queuedBytesPausingReads || connection.text != nil
        // A half-close is seen when reading resumes: watched while paused, level-triggered
        // EPOLLRDHUP would wake the loop at every turn for a client that stopped reading.
        var wanted: UInt32 = connection.readingPaused ? 0 : UInt32(CFL_EPOLLIN | CFL_EPOLLRDHUP)
        if !connection.outgoing.isEmpty { wanted |= UInt32(CFL_EPOLLOUT) }
        if connection.text != nil { wanted = CFL_EPOLLONESHOT }
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
                plugged: device.plugged, device: device.handle.description, player: device.player)
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
