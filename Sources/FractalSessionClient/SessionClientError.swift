import FractalSessionProtocol
import FractalSystem
import SystemPackage

/// Why a session-socket call failed.
public struct SessionClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// A system call failed: see `errno`.
        case system
        /// The daemon sent an ERROR in answer (fatal ones close the connection).
        case refused(SessionErrorCode)
        /// The daemon sent something this client cannot read.
        case protocolViolation
        /// The connection is closed (by either side).
        case closed
        /// Nothing came within the time allowed.
        case timedOut
        /// The request cannot go out as asked (a text over a frame's limit); nothing was sent.
        case invalidRequest
    }

    public var code: Code
    /// "connect", "send", "recv", "HELLO", "GET_FDS", ...
    public var operation: String
    /// The socket path.
    public var path: String
    /// The errno of a failed call; 0 otherwise.
    public var errno: Int32
    /// The errno's text for `.system`; otherwise what the daemon or the check said.
    public var message: String

    public init(code: Code, operation: String, path: String, errno: Int32 = 0, message: String = "") {
        self.code = code
        self.operation = operation
        self.path = path
        self.errno = errno
        self.message = message
    }

    static func system(_ operation: String, _ path: String, errno: Int32) -> SessionClientError {
        SessionClientError(code: .system, operation: operation, path: path, errno: errno, message: "\(Errno(rawValue: errno))")
    }

    public var description: String {
        switch code {
        case .system: SystemError(operation: operation, path: path, errno: errno).description
        case .refused(let error): "\(operation) \(path): the daemon refused: \(error): \(message)"
        case .protocolViolation: "\(operation) \(path): \(message)"
        case .closed: "\(operation) \(path): the connection is closed\(message.isEmpty ? "" : ": " + message)"
        case .timedOut: "\(operation) \(path): no answer in time\(message.isEmpty ? "" : ": " + message)"
        case .invalidRequest: "\(operation) \(path): \(message)"
        }
    }
}
