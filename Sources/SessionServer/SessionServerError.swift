#if canImport(Glibc)
import Glibc
#endif

/// Why the session server could not start, or serve a lease.
public struct SessionServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that failed: "listen", "chmod", "epoll_create1", ...
    public var operation: String
    /// The socket path (or "" for calls on no path).
    public var path: String
    public var errno: Int32
    /// What else to say, e.g. that the lease already has a socket.
    public var detail: String?

    public init(operation: String, path: String, errno: Int32, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "\(operation)\(path.isEmpty ? "" : " " + path)"
        if errno != 0 { text += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        if let detail { text += ": \(detail)" }
        if errno == ENAMETOOLONG { text += ": a unix socket path must be under 108 bytes; use a shorter --session-dir" }
        return text
    }
}
