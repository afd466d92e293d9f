/// Why bytes on a session socket are not a valid frame or message.
public enum SessionProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The header's flags are not zero (version 1 defines none).
    case nonzeroFlags(UInt16)
    /// The header announces more than the limit.
    case payloadTooLarge(length: UInt32, limit: Int)
    /// A type this side does not accept.
    case unknownType(SessionMessageType)
    /// The payload does not fit its type.
    case badPayload(SessionMessageType, length: Int, reason: String)
    /// The stream ended inside a frame.
    case truncated(bufferedBytes: Int)

    /// The ERROR code that tells the peer about it.
    public var code: SessionErrorCode {
        switch self {
        case .nonzeroFlags, .truncated: .malformedHeader
        case .payloadTooLarge: .payloadTooLarge
        case .unknownType: .unknownType
        case .badPayload: .badPayload
        }
    }

    public var description: String {
        switch self {
        case .nonzeroFlags(let flags): "header flags 0x\(String(flags, radix: 16)) are not zero"
        case .payloadTooLarge(let length, let limit): "payload of \(length) bytes is over the limit of \(limit)"
        case .unknownType(let type): "unexpected frame \(type)"
        case .badPayload(let type, let length, let reason): "\(type) payload of \(length) bytes: \(reason)"
        case .truncated(let bytes): "the stream ended inside a frame (\(bytes) bytes buffered)"
        }
    }
}
