import CFractalLinux
import DeviceManager
import FractalSessionProtocol
#if canImport(Glibc)
import Glibc
#endif

/// One client on a lease's socket; confined to the session loop.
final class SessionConnection {
    /// Bytes waiting to go out, with the descriptors that go with their first byte.
    struct Outgoing {
        var bytes: [UInt8]
        var offset = 0
        /// Duplicates owned by the queue; closed once sent or when the connection closes.
        var descriptors: [Int32] = []
    }

    let fd: Int32
    let token: UInt64
    let lease: FractalID
    /// Its lease's entry while it is open (taken away when it closes), so that an event on it
    /// needs no lookup by FractalID.
    var entry: SessionRegistry.LeaseEntry?
    let peer: String
    /// The start of a frame that the last read cut off (at most one frame's bytes), or, while
    /// `text` is typed, every frame read after its TEXT.
    var carried: [UInt8] = []
    var filter: InputFilter
    var greeted = false
    /// The minor version its HELLO announced: notification types added later are not sent to it.
    var minor: UInt16 = 0
    /// Text a TEXT frame is typing (or the layout it waits for): the frames after that TEXT
    /// wait in `carried` until it is done, so they act after the text, as sent.
    var text: SessionText?
    var outgoing: [Outgoing] = []
    var outgoingBytes = 0
    /// Reading stops while the client does not read what it asked for.
    var readingPaused = false
    /// The events epoll watches for now.
    var watching: UInt32
    /// Rate limit for non-fatal ERROR frames: a bucket of `errorBurst` refilled at `errorsPerSecond`.
    var errorTokens: Double
    var errorRefilledAt: UInt64
    /// When it connected and when its last frame came (monotonic ns), for the HELLO and idle timeouts.
    let acceptedAt: UInt64
    var lastFrameAt: UInt64

    init(fd: Int32, token: UInt64, lease: FractalID, peer: String, filter: InputFilter, watching: UInt32, errorBurst: Int) {
        self.fd = fd
        self.token = token
        self.lease = lease
        self.peer = peer
        self.filter = filter
        self.watching = watching
        errorTokens = Double(errorBurst)
        let now = Self.nowNanoseconds()
        errorRefilledAt = now
        acceptedAt = now
        lastFrameAt = now
    }

    /// An FDS reply went out and the client may not have read it yet.
    private var fdsReplyOutstanding = false

    func sentFDSReply() { fdsReplyOutstanding = true }

    /// Whether the last FDS reply may still be unread: something is queued here, or the kernel
    /// still holds bytes the client has not read (SIOCOUTQ, which counts buffers, not bytes, so
    /// only "none" is exact). Conservative: a client that reads everything it was sent is never
    /// refused.
    var fdsReplyUnread: Bool {
        guard fdsReplyOutstanding else { return false }
        if !outgoing.isEmpty { return true }
        let unread = cfl_socket_unread(fd)
        if unread == 0 { fdsReplyOutstanding = false }
        return unread != 0
    }

    /// The loop's clock: CLOCK_MONOTONIC_COARSE, a few milliseconds fine (the kernel's tick),
    /// which every deadline here (HELLO, idle, accept back-off, error rate, a device's quiet
    /// delay) can take. It is read on every turn and every read, and it never leaves the vDSO,
    /// where CLOCK_MONOTONIC becomes a system call on hosts without a usable TSC (VMs).
    static func nowNanoseconds(clock: clockid_t = CLOCK_MONOTONIC_COARSE) -> UInt64 {
        var now = timespec()
        clock_gettime(clock, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Takes one token for a non-fatal error if there is one.
    func mayReportError(burst: Int, perSecond: Double) -> Bool {
        let now = Self.nowNanoseconds()
        errorTokens = min(Double(burst), errorTokens + Double(now - errorRefilledAt) / 1e9 * perSecond)
        errorRefilledAt = now
        guard errorTokens >= 1 else { return false }
        errorTokens -= 1
        return true
    }

    enum SendResult {
        case sent
        case queued
        /// A notification the client had no room for.
        case dropped
        /// The peer is gone (EPIPE, ECONNRESET, ...).
        case failed(Int32)
    }

    /// Sends a frame without blocking: what does not fit is queued (then the caller watches for
    /// EPOLLOUT), except a `droppable` frame, which is dropped whole when anything is queued or
    /// the socket buffer is full.
    func send(_ bytes: [UInt8], descriptors: [Int32] = [], droppable: Bool = false) -> SendResult {
        if !outgoing.isEmpty {
            if droppable { return .dropped }
            return enqueue(Outgoing(bytes: bytes), duplicating: descriptors)
        }
        let sent = bytes.withUnsafeBytes { raw in
            descriptors.withUnsafeBufferPointer { fds in
                cfl_send_with_fds(fd, raw.baseAddress, raw.count, fds.baseAddress, fds.count, 1)
            }
        }
        if sent == bytes.count { return .sent }
        if sent >= 0 {
            // The descriptors went with the first byte; the rest follows without them.
            return enqueue(Outgoing(bytes: bytes, offset: sent), duplicating: [])
        }
        let code = Int32(-sent)
        guard code == EAGAIN || code == EWOULDBLOCK else { return .failed(code) }
        if droppable { return .dropped }
        return enqueue(Outgoing(bytes: bytes), duplicating: descriptors)
    }

    private func enqueue(_ item: Outgoing, duplicating descriptors: [Int32]) -> SendResult {
        var item = item
        for descriptor in descriptors {
            let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else {
                let code = errno
                for owned in item.descriptors { Glibc.close(owned) }
                return .failed(code)
            }
            item.descriptors.append(copy)
        }
        outgoingBytes += item.bytes.count - item.offset
        outgoing.append(item)
        return .queued
    }

    /// Sends what is queued until it is gone or the socket is full. Returns an errno if the peer is gone.
    func flush() -> Int32? {
        while var item = outgoing.first {
            let sent = item.bytes.withUnsafeBytes { raw in
                item.descriptors.withUnsafeBufferPointer { fds in
                    cfl_send_with_fds(fd, raw.baseAddress! + item.offset, raw.count - item.offset, fds.baseAddress, fds.count, 1)
                }
            }
            if sent < 0 {
                let code = Int32(-sent)
                return code == EAGAIN || code == EWOULDBLOCK ? nil : code
            }
            for owned in item.descriptors { Glibc.close(owned) }
            item.descriptors = []
            item.offset += sent
            outgoingBytes -= sent
            if item.offset == item.bytes.count {
                outgoing.removeFirst()
            } else {
                outgoing[0] = item
            }
        }
        return nil
    }

    /// Closes the socket and whatever the queue still owns.
    func closeDescriptors() {
        for item in outgoing { for owned in item.descriptors { Glibc.close(owned) } }
        outgoing = []
        outgoingBytes = 0
        Glibc.close(fd)
    }
}
