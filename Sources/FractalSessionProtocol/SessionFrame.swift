/// One frame: a type and its payload (the header's length is the payload's count).
public struct SessionFrame: Hashable, Sendable {
    public var type: SessionMessageType
    public var payload: [UInt8]

    public init(type: SessionMessageType, payload: [UInt8] = []) {
        self.type = type
        self.payload = payload
    }

    /// Header and payload, ready to write.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(SessionWire.headerSize + payload.count)
        Self.appendHeader(type: type, length: payload.count, to: &bytes)
        bytes += payload
        return bytes
    }

    /// Appends a header (flags 0) to `bytes`.
    public static func appendHeader(type: SessionMessageType, length: Int, to bytes: inout [UInt8]) {
        bytes.appendLittleEndian(type.rawValue)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(UInt32(length))
    }
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { append(contentsOf: $0) }
    }
}

/// Reads little-endian integers from a payload; callers check the length first.
struct PayloadReader {
    let bytes: ArraySlice<UInt8>
    var offset: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes[...]
        offset = bytes.startIndex
    }

    var remaining: Int { bytes.endIndex - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size {
            value |= T(truncatingIfNeeded: bytes[offset + index]) << (8 * index)
        }
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.endIndex }
        return Array(bytes[offset...])
    }
}
