/// Splits a byte stream into frames: feed what arrives, take whole frames out.
///
/// A header is checked as soon as its 8 bytes are in, so an oversize length or nonzero flags
/// fail at once rather than after the payload. Memory stays bounded: at most one frame's
/// bytes (header plus `maximumPayload`) plus what was fed since the last `next()`; feed in
/// chunks and drain with `next()` until it returns nil.
public struct SessionFrameDecoder: Sendable {
    public let maximumPayload: Int
    private var buffer: [UInt8] = []
    /// Where unread bytes start in `buffer`.
    private var start = 0

    public init(maximumPayload: Int = SessionWire.maximumPayload) {
        self.maximumPayload = maximumPayload
    }

    /// Bytes fed but not yet returned in a frame.
    public var bufferedByteCount: Int { buffer.count - start }

    /// The buffer's capacity, for tests that hold memory bounded.
    public var capacity: Int { buffer.capacity }

    /// Adds bytes that arrived.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The next whole frame, or nil until more bytes arrive. After a throw the stream is
    /// unusable: the peer is out of step.
    public mutating func next() throws(SessionProtocolError) -> SessionFrame? {
        let available = buffer.count - start
        guard available >= SessionWire.headerSize else { return nil }
        let header = try buffer.withUnsafeBytes { raw in
            SessionFrameHeader.read(UnsafeRawBufferPointer(rebasing: raw[start...]), maximumPayload: maximumPayload)
        }.get()
        let total = header.frameSize
        guard available >= total else { return nil }
        let payload = Array(buffer[(start + SessionWire.headerSize)..<(start + total)])
        start += total
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 2 * (SessionWire.headerSize + maximumPayload))
            start = 0
        }
        return SessionFrame(type: header.type, payload: payload)
    }

    /// Says whether the stream may end here: throws `.truncated` if a frame was cut off.
    public func finish() throws(SessionProtocolError) {
        if bufferedByteCount > 0 { throw .truncated(bufferedBytes: bufferedByteCount) }
    }

    // Drops consumed bytes before appending, so the buffer never keeps a frame already read.
    private mutating func compact() {
        guard start > 0 else { return }
        buffer.removeFirst(start)
        start = 0
    }
}
