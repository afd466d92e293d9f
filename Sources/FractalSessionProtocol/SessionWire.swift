/// Constants of the session socket's wire format, version 1 (docs/SESSION-PROTOCOL.md).
///
/// Every frame is an 8-byte header (u16 type, u16 flags, u32 payload length, little-endian)
/// followed by the payload. The same numbers are in `fractal_session.h` for C servers.
public enum SessionWire {
    /// The major version this code speaks; a peer with another major is refused.
    public static let major: UInt16 = 1
    /// The minor version this code speaks; minors only add, so any minor of major 1 is accepted.
    /// 1.1 added TEXT, LIGHTBAR and PLAYER_LIGHTS (`SessionMessageType.minorVersion`).
    public static let minor: UInt16 = 1
    /// Bytes in a frame header.
    public static let headerSize = 8
    /// The largest payload either side may send, in bytes.
    public static let maximumPayload = 65536
    /// Bytes one event takes in an EVENTS payload.
    public static let eventSize = 8
    /// Bytes before the events in an EVENTS payload (u8 device, u8 reserved, u16 count).
    public static let eventsHeaderSize = 4
    /// The most events one EVENTS frame can carry within `maximumPayload`.
    public static let maximumEventsPerFrame = (maximumPayload - eventsHeaderSize) / eventSize
    /// Bytes before the layout names in a TEXT payload (u8 device, u8 each name's length).
    public static let textHeaderSize = 4
    /// The most UTF-8 bytes of text one TEXT frame types: a few seconds of typing at the pace
    /// readers keep up with.
    public static let maximumTextBytes = 4096
}

/// A frame's type: the first field of its header.
public struct SessionMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    // Client to daemon.
    public static let hello = SessionMessageType(rawValue: 0x0001)
    public static let events = SessionMessageType(rawValue: 0x0002)
    public static let getFDs = SessionMessageType(rawValue: 0x0003)
    public static let ping = SessionMessageType(rawValue: 0x0004)
    public static let text = SessionMessageType(rawValue: 0x0005)
    // Daemon to client: the high bit set.
    public static let welcome = SessionMessageType(rawValue: 0x8001)
    public static let fds = SessionMessageType(rawValue: 0x8003)
    public static let pong = SessionMessageType(rawValue: 0x8004)
    public static let rumble = SessionMessageType(rawValue: 0x8010)
    public static let led = SessionMessageType(rawValue: 0x8011)
    public static let lightbar = SessionMessageType(rawValue: 0x8012)
    public static let playerLights = SessionMessageType(rawValue: 0x8013)
    public static let error = SessionMessageType(rawValue: 0x80FF)

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .events: "EVENTS"
        case .getFDs: "GET_FDS"
        case .ping: "PING"
        case .text: "TEXT"
        case .welcome: "WELCOME"
        case .fds: "FDS"
        case .pong: "PONG"
        case .rumble: "RUMBLE"
        case .led: "LED"
        case .lightbar: "LIGHTBAR"
        case .playerLights: "PLAYER_LIGHTS"
        case .error: "ERROR"
        default: "type 0x" + String(rawValue, radix: 16)
        }
    }

    /// The minor version that added this type: the daemon sends a client only the types its
    /// HELLO's minor knows (a reader of an earlier minor would take a new type for a broken stream).
    public var minorVersion: UInt16 {
        switch self {
        case .text, .lightbar, .playerLights: 1
        default: 0
        }
    }
}

/// The code of an ERROR frame: why the daemon refused something.
public struct SessionErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    // Fatal: the daemon closes the connection after sending these.
    /// Nonzero header flags.
    public static let malformedHeader = SessionErrorCode(rawValue: 1)
    /// A type this side does not know, or one that flows the other way.
    public static let unknownType = SessionErrorCode(rawValue: 2)
    /// A payload length over `SessionWire.maximumPayload`.
    public static let payloadTooLarge = SessionErrorCode(rawValue: 3)
    /// A payload whose length or content does not fit its type.
    public static let badPayload = SessionErrorCode(rawValue: 4)
    /// HELLO with a major version the daemon does not speak.
    public static let versionMismatch = SessionErrorCode(rawValue: 5)
    /// Anything but HELLO first, or a second HELLO.
    public static let helloRequired = SessionErrorCode(rawValue: 6)
    /// The lease already has as many connections as allowed.
    public static let tooManyConnections = SessionErrorCode(rawValue: 7)
    /// The lease was released; its socket is going away.
    public static let leaseReleased = SessionErrorCode(rawValue: 8)
    /// The lease's devices changed (hot-plug): reconnect for the new manifest.
    public static let leaseChanged = SessionErrorCode(rawValue: 9)
    /// No HELLO came within the daemon's HELLO timeout after connecting.
    public static let helloTimeout = SessionErrorCode(rawValue: 10)
    /// No frame came within the daemon's idle timeout (PING keeps an idle connection).
    public static let idleTimeout = SessionErrorCode(rawValue: 11)

    // Not fatal: the connection stays.
    /// EVENTS for a device index the lease does not have.
    public static let noSuchDevice = SessionErrorCode(rawValue: 16)
    /// The lease's policy refuses events to this device (gamepad-only).
    public static let deviceRefused = SessionErrorCode(rawValue: 17)
    /// Events outside the device's declared capabilities (or with impossible values) were dropped.
    public static let capabilityRefused = SessionErrorCode(rawValue: 18)
    /// Events the lease's policy filters (SysRq, Ctrl+Alt+F1...F12, power keys) were dropped.
    public static let filtered = SessionErrorCode(rawValue: 19)
    /// The kernel refused the write; the batch was not delivered.
    public static let writeFailed = SessionErrorCode(rawValue: 20)
    /// GET_FDS could not be served (the lease has no devices left, or passing them failed).
    public static let fdsUnavailable = SessionErrorCode(rawValue: 21)
    /// GET_FDS while this connection's previous FDS reply is still unread.
    public static let busy = SessionErrorCode(rawValue: 22)
    /// TEXT named a keyboard layout that is not an XKB name or does not compile; nothing was typed.
    public static let badLayout = SessionErrorCode(rawValue: 23)
    /// TEXT has characters the layout cannot type (listed in the message); nothing was typed.
    public static let untypable = SessionErrorCode(rawValue: 24)

    /// Whether the daemon closes the connection after this error.
    public var isFatal: Bool { rawValue < 16 }

    public var description: String {
        switch self {
        case .malformedHeader: "malformed-header"
        case .unknownType: "unknown-type"
        case .payloadTooLarge: "payload-too-large"
        case .badPayload: "bad-payload"
        case .versionMismatch: "version-mismatch"
        case .helloRequired: "hello-required"
        case .tooManyConnections: "too-many-connections"
        case .leaseReleased: "lease-released"
        case .leaseChanged: "lease-changed"
        case .helloTimeout: "hello-timeout"
        case .idleTimeout: "idle-timeout"
        case .noSuchDevice: "no-such-device"
        case .deviceRefused: "device-refused"
        case .capabilityRefused: "capability-refused"
        case .filtered: "filtered"
        case .writeFailed: "write-failed"
        case .fdsUnavailable: "fds-unavailable"
        case .busy: "busy"
        case .badLayout: "bad-layout"
        case .untypable: "untypable"
        default: "error-\(rawValue)"
        }
    }
}

/// A frame header read from the wire, checked: flags are zero and the length within bounds.
public struct SessionFrameHeader: Sendable, Equatable {
    public var type: SessionMessageType
    public var payloadLength: Int

    /// The frame's size on the wire, header included.
    public var frameSize: Int { SessionWire.headerSize + payloadLength }

    /// Reads the header at the start of `bytes` (at least `SessionWire.headerSize` of them).
    /// Throws as soon as the header is wrong, before its payload has arrived.
    public init(_ bytes: UnsafeRawBufferPointer, maximumPayload: Int = SessionWire.maximumPayload) throws(SessionProtocolError) {
        precondition(bytes.count >= SessionWire.headerSize)
        let type = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
        let flags = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let length = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard flags == 0 else { throw .nonzeroFlags(flags) }
        guard length <= UInt32(maximumPayload) else { throw .payloadTooLarge(length: length, limit: maximumPayload) }
        self.type = SessionMessageType(rawValue: type)
        payloadLength = Int(length)
    }

    /// `init` as a result, for closures (`withUnsafeBytes`) that do not keep a typed throw.
    public static func read(_ bytes: UnsafeRawBufferPointer, maximumPayload: Int = SessionWire.maximumPayload) -> Result<Self, SessionProtocolError> {
        Result { () throws(SessionProtocolError) in try Self(bytes, maximumPayload: maximumPayload) }
    }
}

/// The fixed part of an EVENTS payload, checked against the payload's length; the events
/// follow it, `SessionWire.eventSize` bytes each (u16 type, u16 code, s32 value, little-endian).
public struct SessionEventsHeader: Sendable, Equatable {
    public var device: UInt8
    public var count: Int

    public init(_ payload: UnsafeRawBufferPointer) throws(SessionProtocolError) {
        guard payload.count >= SessionWire.eventsHeaderSize else {
            throw .badPayload(.events, length: payload.count, reason: "needs at least \(SessionWire.eventsHeaderSize) bytes")
        }
        let reserved = payload[1]
        let count = Int(UInt16(littleEndian: payload.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        guard reserved == 0 else {
            throw .badPayload(.events, length: payload.count, reason: "reserved byte is \(reserved), not 0")
        }
        guard payload.count == SessionWire.eventsHeaderSize + count * SessionWire.eventSize else {
            throw .badPayload(.events, length: payload.count, reason: "count \(count) needs \(SessionWire.eventsHeaderSize + count * SessionWire.eventSize) bytes")
        }
        device = payload[0]
        self.count = count
    }

    /// `init` as a result, for closures (`withUnsafeBytes`) that do not keep a typed throw.
    public static func read(_ payload: UnsafeRawBufferPointer) -> Result<Self, SessionProtocolError> {
        Result { () throws(SessionProtocolError) in try Self(payload) }
    }
}
