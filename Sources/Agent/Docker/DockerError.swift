/// Why a Docker Engine operation failed. Each case names the operation and what failed.
public enum DockerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// dockerd's socket could not be connected to (missing, refused, no permission).
    case unreachable(socketPath: String, reason: String)
    /// dockerd answered with an error status; `message` is Docker's own `{"message": ...}`.
    case api(operation: String, status: Int, message: String)
    /// The image is not on this host and pulling it failed (often: no registry is reachable).
    case imageUnavailable(image: String, reason: String)
    /// dockerd is older than the oldest API fractal-agent speaks.
    case unsupportedAPIVersion(server: String, minimum: String)
    /// The connection failed or broke mid-request for a reason other than an unreachable socket.
    case transport(operation: String, reason: String)
    /// dockerd's answer could not be read.
    case malformedResponse(operation: String, reason: String)
    /// An error reported inside a streamed answer (pull, import progress).
    case streamed(operation: String, message: String)

    public var description: String {
        switch self {
        case .unreachable(let socketPath, let reason):
            return "cannot reach dockerd at \(socketPath): \(reason). Start it (`systemctl start docker`, or run `dockerd`) "
                + "or point fractal-agent at the socket it listens on"
        case .api(let operation, let status, let message):
            return "\(operation): dockerd answered \(status): \(message)"
        case .imageUnavailable(let image, let reason):
            return "image '\(image)' is not present locally and could not be pulled (\(reason)). Load it on this host "
                + "with `docker load -i <image>.tar` (or `docker import` a root filesystem tarball), then try again"
        case .unsupportedAPIVersion(let server, let minimum):
            return "dockerd speaks Docker API \(server); fractal-agent needs at least \(minimum) (Docker 20.10)"
        case .transport(let operation, let reason):
            return "\(operation): connection to dockerd failed: \(reason)"
        case .malformedResponse(let operation, let reason):
            return "\(operation): could not read dockerd's answer: \(reason)"
        case .streamed(let operation, let message):
            return "\(operation): \(message)"
        }
    }

    /// The HTTP status dockerd answered with, for ``api(operation:status:message:)``.
    public var status: Int? {
        if case .api(_, let status, _) = self { return status }
        return nil
    }

    /// Whether dockerd said the object does not exist (404).
    public var isNotFound: Bool { status == 404 }

    /// Whether dockerd could not be reached at all: worth retrying while it starts.
    public var isUnreachable: Bool {
        if case .unreachable = self { return true }
        return false
    }
}
