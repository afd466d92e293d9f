import CFractalLinux
import Foundation
import FractalSessionProtocol
import Synchronization

/// What the daemon tells a client without being asked.
public enum SessionNotification: Hashable, Sendable {
    /// Play rumble on the device at `device` (strong = weak = 0: stop; duration 0: until stopped).
    case rumble(device: UInt8, strong: UInt16, weak: UInt16, durationMs: UInt16)
    /// An LED of the device at `device` went on or off.
    case led(device: UInt8, code: UInt16, on: Bool)
    /// A program set the light bar of the pad at `device` (0, 0, 0: off).
    case lightbar(device: UInt8, red: UInt8, green: UInt8, blue: UInt8)
    /// A program lit the player LEDs in `mask` on the pad at `device` (bit 0: the first, leftmost).
    case playerLights(device: UInt8, mask: UInt8)
    /// A non-fatal ERROR: events dropped or refused; the connection stays.
    case error(SessionErrorCode, message: String)
}

/// A streaming server's end of a lease's session socket (docs/SESSION-PROTOCOL.md).
///
/// Calls block; they are safe from several threads (each frame goes out whole). Replies and
/// notifications that arrive while waiting for something else are kept, in order, for
/// `nextNotification`. `close()` (or deinit) closes the socket and any descriptors received
/// but not taken.
public final class SessionClient: Sendable {
    public let path: String

    private struct State {
        var fd: Int32
        var decoder = SessionFrameDecoder()
        /// Decoded frames not yet taken, in arrival order.
        var inbox: [SessionMessage] = []
        /// Descriptors received with the next FDS frame.
        var descriptors: [Int32] = []
        var closedBecause: SessionClientError?
        /// What the daemon's WELCOME said it speaks.
        var daemonVersion: SessionVersion?
    }

    private let state: Mutex<State>
    /// Serialises writers, so a frame is never interleaved with another; holds the send buffer.
    private let sending = Mutex<[UInt8]>([])
    private let tokens = Atomic<UInt32>(1)

    /// Keeps at most this many unread notifications; older ones are dropped.
    public static let inboxLimit = 4096

    /// Connects to a lease's socket (`Lease.session.socketPath`, or its bind mount in a container).
    public init(connectingTo path: String) throws(SessionClientError) {
        self.path = path
        let fd = cfl_unix_connect(path)
        guard fd >= 0 else { throw .system("connect", path, errno: -fd) }
        state = Mutex(State(fd: fd))
    }

    deinit { close() }

    /// Closes the socket and descriptors received but not taken. Safe to call more than once.
    public func close() {
        state.withLock { state in
            guard state.fd >= 0 else { return }
            Glibc.close(state.fd)
            state.fd = -1
            for fd in state.descriptors { Glibc.close(fd) }
            state.descriptors = []
            state.closedBecause = SessionClientError(code: .closed, operation: "close", path: path)
        }
    }

    // MARK: Requests

    /// Says HELLO; returns the lease's manifest.
    public func hello(timeout: Duration = .seconds(10)) throws(SessionClientError) -> SessionManifest {
        try write(SessionMessage.hello(.current).encoded(), operation: "HELLO")
        let reply = try waitFor(operation: "HELLO", timeout: timeout) { if case .welcome = $0 { true } else { false } }
        guard case .welcome(let version, let json) = reply else { throw closed("HELLO") }
        guard version.major == SessionWire.major else {
            throw SessionClientError(code: .protocolViolation, operation: "HELLO", path: path, message: "the daemon speaks version \(version)")
        }
        state.withLock { $0.daemonVersion = version }
        do {
            return try JSONDecoder().decode(SessionManifest.self, from: Data(json))
        } catch {
            throw SessionClientError(code: .protocolViolation, operation: "HELLO", path: path, message: "the manifest is not valid JSON: \(error)")
        }
    }

    /// Sends events for the device at `device` (its index in the manifest). Each frame is
    /// written to the device with one write(2): end frames with SYN_REPORT, and keep a frame in
    /// one call. More than `SessionWire.maximumEventsPerFrame` events go as several batches.
    public func send(_ events: [SessionEvent], toDevice device: UInt8) throws(SessionClientError) {
        try write(operation: "EVENTS") { SessionMessage.appendEventsFrames(device: device, events[...], to: &$0) }
    }

    /// Types `text` on the keyboard at `device` as the XKB `layout` (empty: `us`), `variant`
    /// and `options` type it (rules evdev, model pc105), with the keys and modifiers (AltGr,
    /// dead keys) the layout needs: the container's programs read it with the same keymap.
    /// Every character is checked before any is typed: a layout that does not compile, or a
    /// character it has no key for, comes back as a notification (ERROR bad-layout or
    /// untypable, listing them) and nothing is typed. The daemon types the text in paced
    /// batches, and handles frames sent after it once it is typed; `ping()` returns then.
    /// Throws `invalidRequest` for text over `SessionWire.maximumTextBytes` of UTF-8, or when
    /// the daemon's WELCOME said a version before 1.1 (it would close the connection on TEXT).
    public func typeText(_ text: String, layout: String = "", variant: String = "", options: String = "", toDevice device: UInt8) throws(SessionClientError) {
        if let version = state.withLock({ $0.daemonVersion }), version.minor < SessionMessageType.text.minorVersion {
            throw SessionClientError(code: .invalidRequest, operation: "TEXT", path: path, message: "the daemon speaks \(version); TEXT needs 1.\(SessionMessageType.text.minorVersion)")
        }
        guard text.utf8.count <= SessionWire.maximumTextBytes else {
            throw SessionClientError(code: .invalidRequest, operation: "TEXT", path: path, message: "the text is \(text.utf8.count) bytes of UTF-8; at most \(SessionWire.maximumTextBytes) a frame")
        }
        for (field, name) in [("layout", layout), ("variant", variant), ("options", options)] where name.utf8.count > Int(UInt8.max) {
            throw SessionClientError(code: .invalidRequest, operation: "TEXT", path: path, message: "the \(field) name is \(name.utf8.count) bytes; at most \(UInt8.max)")
        }
        let layout = SessionTextLayout(layout: layout, variant: variant, options: options)
        try write(SessionMessage.text(device: device, layout: layout, text: text).encoded(), operation: "TEXT")
    }

    /// Returns once the daemon has handled every frame sent before (PING answered by PONG).
    public func ping(timeout: Duration = .seconds(10)) throws(SessionClientError) {
        let token = tokens.wrappingAdd(1, ordering: .relaxed).newValue
        try write(SessionMessage.ping(token: token).encoded(), operation: "PING")
        _ = try waitFor(operation: "PING", timeout: timeout) { if case .pong(token) = $0 { true } else { false } }
    }

    /// Asks for the devices' uinput descriptors: those the lease's policy hands off, with the
    /// daemon's word on the rest. Write events to them; never read from them (the daemon
    /// serves force feedback on the same descriptor).
    public func takeDevices(timeout: Duration = .seconds(10)) throws(SessionClientError) -> HandedOffDevices {
        try write(SessionMessage.getFDs.encoded(), operation: "GET_FDS")
        let reply = try waitFor(operation: "GET_FDS", timeout: timeout) { if case .fds = $0 { true } else { false } }
        guard case .fds(let json) = reply else { throw closed("GET_FDS") }
        let descriptors = state.withLock { state in
            defer { state.descriptors = [] }
            return state.descriptors
        }
        let manifest: SessionFDManifest
        do {
            manifest = try JSONDecoder().decode(SessionFDManifest.self, from: Data(json))
        } catch {
            for fd in descriptors { Glibc.close(fd) }
            throw SessionClientError(code: .protocolViolation, operation: "GET_FDS", path: path, message: "the FDS manifest is not valid JSON: \(error)")
        }
        guard manifest.attached.count == descriptors.count else {
            for fd in descriptors { Glibc.close(fd) }
            throw SessionClientError(code: .protocolViolation, operation: "GET_FDS", path: path, message: "\(manifest.attached.count) devices listed, \(descriptors.count) descriptors received")
        }
        return HandedOffDevices(manifest: manifest, descriptors: descriptors)
    }

    /// The next notification (rumble, LED, light bar, player lights, non-fatal error), waiting up to `timeout`
    /// (nil: forever); nil if none came in time.
    public func nextNotification(timeout: Duration? = nil) throws(SessionClientError) -> SessionNotification? {
        do {
            let message = try waitFor(operation: "read notifications", timeout: timeout) { message in
                switch message {
                case .rumble, .led, .lightbar, .playerLights, .error: true
                default: false
                }
            }
            switch message {
            case .rumble(let device, let strong, let weak, let duration): return .rumble(device: device, strong: strong, weak: weak, durationMs: duration)
            case .led(let device, let code, let on): return .led(device: device, code: code, on: on)
            case .lightbar(let device, let red, let green, let blue): return .lightbar(device: device, red: red, green: green, blue: blue)
            case .playerLights(let device, let mask): return .playerLights(device: device, mask: mask)
            case .error(let code, let text): return .error(code, message: text)
            default: return nil
            }
        } catch where error.code == .timedOut {
            return nil
        }
    }

    /// Notifications as they come, read on a thread of their own until the connection closes.
    /// Do not mix with `nextNotification` on other threads: each notification goes to one of them.
    public func notifications() -> AsyncStream<SessionNotification> {
        let (stream, continuation) = AsyncStream.makeStream(of: SessionNotification.self, bufferingPolicy: .bufferingNewest(Self.inboxLimit))
        let thread = Thread { [self] in
            while true {
                do {
                    if let notification = try nextNotification(timeout: .milliseconds(200)) { continuation.yield(notification) }
                } catch {
                    break
                }
            }
            continuation.finish()
        }
        thread.name = "fractal-session-notifications"
        thread.start()
        return stream
    }

    // MARK: I/O

    private func closed(_ operation: String) -> SessionClientError {
        state.withLock { $0.closedBecause } ?? SessionClientError(code: .closed, operation: operation, path: path)
    }

    private func write(_ bytes: [UInt8], operation: String) throws(SessionClientError) {
        try write(operation: operation) { $0 += bytes }
    }

    /// Encodes frames into the connection's send buffer and sends them whole; the buffer is kept
    /// (up to 1 MiB) so that a client sending batch after batch allocates nothing per batch.
    private func write(operation: String, encoding encode: (inout [UInt8]) -> Void) throws(SessionClientError) {
        let fd = state.withLock { $0.fd }
        guard fd >= 0 else { throw closed(operation) }
        try sending.withLock { (buffer: inout [UInt8]) throws(SessionClientError) in
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            encode(&buffer)
            var offset = 0
            while offset < buffer.count {
                let sent = buffer.withUnsafeBytes { cfl_send(fd, $0.baseAddress! + offset, $0.count - offset, 0) }
                guard sent >= 0 else { throw failedSend(operation, errno: Int32(-sent)) }
                offset += sent
            }
        }
    }

    /// A send that failed because the daemon closed the connection: the ERROR it sent before
    /// closing (too many connections, lease released, ...) says why, if it came.
    private func failedSend(_ operation: String, errno code: Int32) -> SessionClientError {
        guard code == EPIPE || code == ECONNRESET else { return .system("send (\(operation))", path, errno: code) }
        for _ in 0..<64 {
            let done = state.withLock { $0.closedBecause != nil }
            if done { break }
            do { try pump(waitMs: 100, operation: operation) } catch { return error }
        }
        return state.withLock { state in
            for case .error(let error, let text) in state.inbox where error.isFatal {
                return SessionClientError(code: .refused(error), operation: operation, path: path, message: text)
            }
            return state.closedBecause ?? SessionClientError(code: .closed, operation: operation, path: path)
        }
    }

    /// Waits until a message matching `wanted` is in the inbox and takes it out. A fatal ERROR
    /// throws; other messages stay for later.
    private func waitFor(operation: String, timeout: Duration?, _ wanted: (SessionMessage) -> Bool) throws(SessionClientError) -> SessionMessage {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let found: Result<SessionMessage?, SessionClientError> = state.withLock { state in
                if let index = state.inbox.firstIndex(where: wanted) { return .success(state.inbox.remove(at: index)) }
                if let index = state.inbox.firstIndex(where: { if case .error(let code, _) = $0 { code.isFatal } else { false } }),
                   case .error(let code, let text) = state.inbox[index] {
                    return .failure(SessionClientError(code: .refused(code), operation: operation, path: path, message: text))
                }
                if let error = state.closedBecause { return .failure(error) }
                return .success(nil)
            }
            if let message = try found.get() { return message }
            var waitMs: Int32 = -1
            if let deadline {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { throw SessionClientError(code: .timedOut, operation: operation, path: path) }
                waitMs = Int32(min(left / .milliseconds(1), 60_000).rounded(.up))
            }
            try pump(waitMs: waitMs, operation: operation)
        }
    }

    /// Waits for the socket to be readable, reads once, and decodes what came into the inbox.
    private func pump(waitMs: Int32, operation: String) throws(SessionClientError) {
        let fd = state.withLock { $0.fd }
        guard fd >= 0 else { throw closed(operation) }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, waitMs)
        guard ready > 0 else {
            if ready < 0 && errno != EINTR { throw .system("poll", path, errno: errno) }
            return
        }
        try state.withLock { (state: inout State) throws(SessionClientError) in
            guard state.fd >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var fds = [Int32](repeating: -1, count: Int(CFL_MAX_PASSED_FDS))
            var fdCount = 0
            var truncated: Int32 = 0
            let got = buffer.withUnsafeMutableBytes { raw in
                fds.withUnsafeMutableBufferPointer { fdBuffer in
                    // Non-blocking: another thread may have read what poll saw.
                    cfl_recv_with_fds(state.fd, raw.baseAddress, raw.count, fdBuffer.baseAddress, fdBuffer.count, &fdCount, &truncated, 1)
                }
            }
            state.descriptors += fds[..<fdCount]
            if got < 0 {
                let code = Int32(-got)
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
                // ECONNRESET: the daemon closed with our frames unread; what it sent first was read already.
                state.closedBecause = code == ECONNRESET
                    ? SessionClientError(code: .closed, operation: operation, path: path, message: "the daemon closed the connection")
                    : .system("recv", path, errno: code)
                return
            }
            if got == 0 {
                state.closedBecause = SessionClientError(code: .closed, operation: operation, path: path, message: "the daemon closed the connection")
                return
            }
            state.decoder.feed(Array(buffer[..<got]))
            do {
                while let frame = try state.decoder.next() {
                    state.inbox.append(try SessionMessage(frame))
                }
            } catch {
                state.closedBecause = SessionClientError(code: .protocolViolation, operation: operation, path: path, message: "\(error)")
            }
            if state.inbox.count > Self.inboxLimit { state.inbox.removeFirst(state.inbox.count - Self.inboxLimit) }
        }
    }
}

/// The uinput descriptors a GET_FDS handed over, owned: `close()` (or deinit) closes them.
public final class HandedOffDevices: Sendable {
    /// Which device each descriptor is for, and which were withheld and why.
    public let manifest: SessionFDManifest
    private let descriptors: Mutex<[Int32]>

    init(manifest: SessionFDManifest, descriptors: [Int32]) {
        self.manifest = manifest
        self.descriptors = Mutex(descriptors)
    }

    deinit { close() }

    /// The descriptor for the device at `index`, or nil if it was withheld (or closed).
    /// It stays owned here.
    public func descriptor(forDevice index: Int) -> Int32? {
        guard let position = manifest.attached.firstIndex(where: { $0.index == index }) else { return nil }
        return descriptors.withLock { $0.indices.contains(position) && $0[position] >= 0 ? $0[position] : nil }
    }

    /// Closes every descriptor. Safe to call more than once.
    public func close() {
        descriptors.withLock { fds in
            for fd in fds where fd >= 0 { Glibc.close(fd) }
            fds = fds.map { _ in -1 }
        }
    }
}
