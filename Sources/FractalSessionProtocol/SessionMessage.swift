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

/// The XKB keyboard layout a TEXT frame types in, as RMLVO names it (rules `evdev`, model
/// `pc105`): layout `de`, variant `nodeadkeys`, options `lv3:ralt_switch`. An empty layout is
/// `us`; empty variant and options are none. The daemon checks the names (ERROR bad-layout).
public struct SessionTextLayout: Hashable, Sendable, CustomStringConvertible {
    public var layout: String
    public var variant: String
    public var options: String

    public init(layout: String = "", variant: String = "", options: String = "") {
        self.layout = layout
        self.variant = variant
        self.options = options
    }

    /// `de`, `de(nodeadkeys)`, `us` for the empty layout.
    public var description: String {
        (layout.isEmpty ? "us" : layout) + (variant.isEmpty ? "" : "(\(variant))") + (options.isEmpty ? "" : " [\(options)]")
    }
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
    /// Type `text` on the keyboard at `device` as `layout` types it (1.1): every character is
    /// checked before any is typed. At most `SessionWire.maximumTextBytes` of UTF-8.
    case text(device: UInt8, layout: SessionTextLayout, text: String)
    case pong(token: UInt32)
    case error(SessionErrorCode, message: String)
    /// Play (strong = weak = 0: stop) rumble on the device at `device` for `durationMs` (0: until stopped).
    case rumble(device: UInt8, strong: UInt16, weak: UInt16, durationMs: UInt16)
    /// The LED `code` (LED_NUML, LED_CAPSL, ...) of the device at `device` went on or off.
    case led(device: UInt8, code: UInt16, on: Bool)
    /// A program set the light bar of the pad at `device` to this colour (1.1; 0, 0, 0: off).
    case lightbar(device: UInt8, red: UInt8, green: UInt8, blue: UInt8)
    /// A program lit the player LEDs in `mask` on the pad at `device` (1.1; bit 0: the first, leftmost).
    case playerLights(device: UInt8, mask: UInt8)

    public var type: SessionMessageType {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .events: .events
        case .getFDs: .getFDs
        case .fds: .fds
        case .ping: .ping
        case .text: .text
        case .pong: .pong
        case .error: .error
        case .rumble: .rumble
        case .led: .led
        case .lightbar: .lightbar
        case .playerLights: .playerLights
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
        case .text:
            self = try Self.text(payload)
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
        case .lightbar:
            try need(4)
            self = .lightbar(device: reader.read(), red: reader.read(), green: reader.read(), blue: reader.read())
        case .playerLights:
            try need(2)
            self = .playerLights(device: reader.read(), mask: reader.read())
        default:
            throw .unknownType(frame.type)
        }
    }

    /// A TEXT payload: u8 device, the u8 lengths of layout, variant and options, those names,
    /// then the text. Names and text must be UTF-8, the text at most `maximumTextBytes`.
    static func text(_ payload: [UInt8]) throws(SessionProtocolError) -> SessionMessage {
        func bad(_ reason: String) -> SessionProtocolError { .badPayload(.text, length: payload.count, reason: reason) }
        guard payload.count >= SessionWire.textHeaderSize else { throw bad("needs at least \(SessionWire.textHeaderSize) bytes") }
        let lengths = payload[1...3].map(Int.init)
        var start = SessionWire.textHeaderSize
        var names: [String] = []
        for (field, length) in zip(["layout", "variant", "options"], lengths) {
            guard payload.count >= start + length else { throw bad("its \(field) of \(length) bytes runs past the end") }
            guard let name = String(validating: payload[start..<(start + length)], as: UTF8.self) else { throw bad("its \(field) is not UTF-8") }
            names.append(name)
            start += length
        }
        guard payload.count - start <= SessionWire.maximumTextBytes else {
            throw bad("its text of \(payload.count - start) bytes is over the limit of \(SessionWire.maximumTextBytes)")
        }
        guard let text = String(validating: payload[start...], as: UTF8.self) else { throw bad("its text is not UTF-8") }
        return .text(device: payload[0], layout: SessionTextLayout(layout: names[0], variant: names[1], options: names[2]), text: text)
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
    /// `SessionWire.maximumEventsPerFrame` events, TEXT with more than
    /// `SessionWire.maximumTextBytes`, or an oversize manifest, make a frame the other side
    /// refuses: split them first.
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
        case .text(let device, let layout, let text):
            // A name longer than its u8 length can say is cut (no XKB name is that long).
            let names = [layout.layout, layout.variant, layout.options].map { Array($0.utf8.prefix(Int(UInt8.max))) }
            payload.append(device)
            for name in names { payload.append(UInt8(name.count)) }
            for name in names { payload += name }
            payload += text.utf8
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
        case .lightbar(let device, let red, let green, let blue):
            payload += [device, red, green, blue]
        case .playerLights(let device, let mask):
            payload += [device, mask]
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
