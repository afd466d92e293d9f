/// A protocol version: a HELLO's or a WELCOME's.
public struct SessionVersion: Hashable, Sendable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16

    public init(major: UInt16, minor: UInt16) {
        self.major = major
        self.minor = minor
    }

    /// What this code speaks.
    public static let current = SessionVersion(major: SessionWire.major, minor: SessionWire.minor)

    public var description: String { "\(major).\(minor)" }
}

/// Every message of version 1, in both directions, decoded from and encoded to frames.
///
/// Fixed-size payloads may be longer than version 1.0 defines: a later minor version appends
/// fields, and a reader of an earlier minor ignores what it does not know. EVENTS is exact.
public enum SessionMessage: Hashable, Sendable {
    case hello(SessionVersion)
    /// The daemon's version and the lease's manifest, UTF-8 JSON (`SessionManifest`).
    case welcome(SessionVersion, manifest: [UInt8])
    /// Events for the device at `device` (its index in the manifest), written with one write(2).
    case events(device: UInt8, [SessionEvent])
    case getFDs
    /// Which devices' fds are attached (in order) and which are withheld, UTF-8 JSON
    /// (`SessionFDManifest`); the fds themselves travel as SCM_RIGHTS with this frame.
    case fds(manifest: [UInt8])
    case ping(token: UInt32)
    case pong(token: UInt32)
    case error(SessionErrorCode, message: String)
    /// Play (strong = weak = 0: stop) rumble on the device at `device` for `durationMs` (0: until stopped).
    case rumble(device: UInt8, strong: UInt16, weak: UInt16, durationMs: UInt16)
    /// The LED `code` (LED_NUML, LED_CAPSL, ...) of the device at `device` went on or off.
    case led(device: UInt8, code: UInt16, on: Bool)

    public var type: SessionMessageType {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .events: .events
        case .getFDs: .getFDs
        case .fds: .fds
        case .ping: .ping
        case .pong: .pong
        case .error: .error
        case .rumble: .rumble
        case .led: .led
        }
    }

    /// Decodes a frame of any known type.
    public init(_ frame: SessionFrame) throws(SessionProtocolError) {
        let payload = frame.payload
        var reader = PayloadReader(payload)
        func need(_ count: Int) throws(SessionProtocolError) {
            guard payload.count >= count else {
                throw .badPayload(frame.type, length: payload.count, reason: "needs at least \(count) bytes")
            }
        }
        switch frame.type {
        case .hello:
            try need(4)
            self = .hello(SessionVersion(major: reader.read(), minor: reader.read()))
        case .welcome:
            try need(4)
            let version = SessionVersion(major: reader.read(), minor: reader.read())
            self = .welcome(version, manifest: reader.rest())
        case .events:
            let header = try payload.withUnsafeBytes { SessionEventsHeader.read($0) }.get()
            self = .events(device: header.device, Self.events(payload, count: header.count))
        case .getFDs:
            self = .getFDs
        case .fds:
            self = .fds(manifest: payload)
        case .ping:
            try need(4)
            self = .ping(token: reader.read())
        case .pong:
            try need(4)
            self = .pong(token: reader.read())
        case .error:
            try need(8)
            let code = SessionErrorCode(rawValue: reader.read())
            _ = reader.read(UInt32.self)
            self = .error(code, message: String(decoding: reader.rest(), as: UTF8.self))
        case .rumble:
            try need(8)
            let device: UInt8 = reader.read()
            _ = reader.read(UInt8.self)
            self = .rumble(device: device, strong: reader.read(), weak: reader.read(), durationMs: reader.read())
        case .led:
            try need(6)
            let device: UInt8 = reader.read()
            _ = reader.read(UInt8.self)
            self = .led(device: device, code: reader.read(), on: reader.read(UInt16.self) != 0)
        default:
            throw .unknownType(frame.type)
        }
    }

    /// The events of an EVENTS payload whose length was checked.
    static func events(_ payload: [UInt8], count: Int) -> [SessionEvent] {
        payload.withUnsafeBytes { raw in
            (0..<count).map { index in
                let base = SessionWire.eventsHeaderSize + index * SessionWire.eventSize
                return SessionEvent(
                    type: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base, as: UInt16.self)),
                    code: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 2, as: UInt16.self)),
                    value: Int32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 4, as: Int32.self)))
            }
        }
    }

    /// The frame that carries this message. EVENTS with more than
    /// `SessionWire.maximumEventsPerFrame` events, or an oversize manifest, make a frame the
    /// other side refuses: split them first.
    public var frame: SessionFrame {
        var payload: [UInt8] = []
        switch self {
        case .hello(let version):
            payload.appendLittleEndian(version.major)
            payload.appendLittleEndian(version.minor)
        case .welcome(let version, let manifest):
            payload.appendLittleEndian(version.major)
            payload.appendLittleEndian(version.minor)
            payload += manifest
        case .events(let device, let events):
            Self.appendEventsPayload(device: device, events[...], to: &payload)
        case .getFDs:
            break
        case .fds(let manifest):
            payload = manifest
        case .ping(let token), .pong(let token):
            payload.appendLittleEndian(token)
        case .error(let code, let message):
            payload.appendLittleEndian(code.rawValue)
            payload.appendLittleEndian(UInt32(0))
            // Cut the message, on a character boundary, to what fits.
            var text = Array(message.utf8)
            if text.count > SessionWire.maximumPayload - 8 {
                text = Array(String(decoding: text.prefix(SessionWire.maximumPayload - 8 - 3), as: UTF8.self).utf8.prefix(SessionWire.maximumPayload - 8))
            }
            payload += text
        case .rumble(let device, let strong, let weak, let durationMs):
            payload.append(device)
            payload.append(0)
            payload.appendLittleEndian(strong)
            payload.appendLittleEndian(weak)
            payload.appendLittleEndian(durationMs)
        case .led(let device, let code, let on):
            payload.append(device)
            payload.append(0)
            payload.appendLittleEndian(code)
            payload.appendLittleEndian(UInt16(on ? 1 : 0))
        }
        return SessionFrame(type: type, payload: payload)
    }

    /// Header and payload, ready to write.
    public func encoded() -> [UInt8] { frame.encoded() }

    /// Appends EVENTS frames carrying `events` for `device` to `bytes`, as many as
    /// `SessionWire.maximumEventsPerFrame` needs, with no message or array per frame: what a
    /// client sends for every batch.
    public static func appendEventsFrames(device: UInt8, _ events: ArraySlice<SessionEvent>, to bytes: inout [UInt8]) {
        var start = events.startIndex
        repeat {
            let end = min(start + SessionWire.maximumEventsPerFrame, events.endIndex)
            SessionFrame.appendHeader(type: .events, length: SessionWire.eventsHeaderSize + (end - start) * SessionWire.eventSize, to: &bytes)
            appendEventsPayload(device: device, events[start..<end], to: &bytes)
            start = end
        } while start < events.endIndex
    }

    private static func appendEventsPayload(device: UInt8, _ events: ArraySlice<SessionEvent>, to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + SessionWire.eventsHeaderSize + events.count * SessionWire.eventSize)
        bytes.append(device)
        bytes.append(0)
        bytes.appendLittleEndian(UInt16(truncatingIfNeeded: events.count))
        for event in events {
            bytes.appendLittleEndian(event.type)
            bytes.appendLittleEndian(event.code)
            bytes.appendLittleEndian(event.value)
        }
    }
}
