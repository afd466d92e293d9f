import SystemPackage

/// A failed system call, told as a person reads it: what was attempted (`operation`), on what
/// (`path`), and the kernel's `errno`. Every error type that reports a failed call carries one,
/// so the errno is formatted in one place.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that failed: "open", "ioctl(UI_DEV_CREATE)", "epoll_ctl(ADD)", ...
    public var operation: String
    /// The file, socket or object the call was about; "" for calls on none.
    public var path: String
    /// The errno of the failed call; 0 when the failure was found without one.
    public var errno: Errno
    /// What else to say, e.g. that the lease already has a socket.
    public var detail: String?

    public init(operation: String, path: String, errno: Errno, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    /// The same from a raw errno (`errno`, or `-result` of a call that returns `-errno`).
    public init(operation: String, path: String, errno: Int32, detail: String? = nil) {
        self.init(operation: operation, path: path, errno: Errno(rawValue: errno), detail: detail)
    }

    /// The C library's text and the number: "No such file or directory (errno 2)"; "" for errno 0.
    public var reason: String { Self.reason(errno) }

    /// `reason` for an errno on its own, e.g. one a log line reports.
    public static func reason(_ errno: Errno) -> String {
        errno.rawValue == 0 ? "" : "\(errno) (errno \(errno.rawValue))"
    }

    /// "operation path: reason: detail", each part only where there is one.
    public var description: String {
        var text = path.isEmpty ? operation : "\(operation) \(path)"
        if errno.rawValue != 0 { text += ": \(reason)" }
        if let detail { text += ": \(detail)" }
        return text
    }
}
