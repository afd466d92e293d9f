import FractalSystem
import SystemPackage

/// Why the session server could not start, or serve a lease.
public struct SessionServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that failed ("listen", "chmod", "epoll_create1", ...) on the socket path ("" for
    /// calls on no path), and what else to say, e.g. that the lease already has a socket.
    public var failure: SystemError

    public init(operation: String, path: String, errno: Int32, detail: String? = nil) {
        failure = SystemError(operation: operation, path: path, errno: errno, detail: detail)
    }

    public var description: String {
        guard failure.errno == .fileNameTooLong else { return failure.description }
        return "\(failure): a unix socket path must be under 108 bytes; use a shorter --session-dir"
    }
}
