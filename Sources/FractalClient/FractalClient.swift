import AsyncHTTPClient
import FractalAPI
import FractalSystem
import Foundation
import NIOCore
import SystemPackage

/// Why a call to the daemon failed, phrased for the person at the terminal.
public enum FractalClientError: Error, CustomStringConvertible {
    /// Nothing answers on the socket.
    case daemonNotReachable(socketPath: String, reason: String)
    /// The daemon refused or failed the request: its `{"message": ...}` and the HTTP status.
    case api(status: Int, message: String)
    case malformedResponse(String)

    public var description: String {
        switch self {
        case .daemonNotReachable(let socketPath, let reason):
            return """
                cannot reach fractal-agent at \(socketPath): \(reason)
                Start the daemon (as root): fractal-agent --socket \(socketPath)
                or, where it is installed as a service: systemctl start fractal-agent
                A daemon on another socket is reached with --socket PATH or FRACTAL_AGENT_SOCKET.
                """
        case .api(let status, let message):
            return "\(message) (HTTP \(status))"
        case .malformedResponse(let detail):
            return "the daemon's answer could not be read: \(detail)"
        }
    }

    /// The HTTP status when the daemon answered.
    public var status: Int? {
        if case .api(let status, _) = self { return status }
        return nil
    }
}

/// The daemon's API over its unix socket.
public final class FractalClient: Sendable {
    public let socketPath: String
    private let http: HTTPClient
    private let timeout: TimeAmount

    public init(socketPath: String = defaultSocketPath, timeout: Duration = .seconds(120)) {
        self.socketPath = socketPath
        // Lease requests wait for udevd and may queue behind each other: allow many connections
        // at once and never time out a request while it waits for one.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        configuration.timeout = .init(connect: .init(timeout), read: .init(timeout))
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
    }

    /// Must be called once the client is no longer needed.
    public func shutdown() async {
        try? await http.shutdown()
    }

    // MARK: Leases

    public func createLease(_ request: CreateLeaseRequest) async throws -> LeaseResponse {
        try await call("POST", "/v1/leases", body: request)
    }

    public func leases() async throws -> [LeaseResponse] {
        try await call("GET", "/v1/leases")
    }

    public func lease(_ id: String) async throws -> LeaseResponse {
        try await call("GET", "/v1/leases/\(escape(id))")
    }

    public func releaseLease(_ id: String, keepDirectories: Bool) async throws -> ReleaseResponse {
        try await call("DELETE", "/v1/leases/\(escape(id))" + (keepDirectories ? "?keepDirs=true" : ""))
    }

    /// Plugs `role` into the lease's running session (a hot-plug slot, or a new device for a lease without containers).
    public func plug(_ id: String, role: String) async throws -> LeaseResponse {
        try await call("POST", "/v1/leases/\(escape(id))/devices", body: PlugRequest(role: role))
    }

    /// Unplugs `role` from the lease's running session.
    public func unplug(_ id: String, role: String) async throws -> LeaseResponse {
        try await call("DELETE", "/v1/leases/\(escape(id))/devices/\(escape(role))")
    }

    public func inject(_ id: String, _ request: InjectRequest) async throws {
        let _: Empty = try await call("POST", "/v1/leases/\(escape(id))/events", body: request)
    }

    /// Types text on the lease's keyboard in the request's layout.
    public func type(_ id: String, _ request: TextRequest) async throws -> TextResponse {
        try await call("POST", "/v1/leases/\(escape(id))/text", body: request)
    }

    public func version() async throws -> VersionResponse {
        try await call("GET", "/v1/version")
    }

    /// The Prometheus text the daemon serves at /metrics.
    public func metrics() async throws -> String {
        let (_, body) = try await raw("GET", "/metrics", body: nil)
        return String(decoding: body, as: UTF8.self)
    }

    // MARK: Tasks

    /// Runs an ECS task definition (the JSON as `aws ecs describe-task-definition` prints it).
    public func runTask(definition: Data, id: String? = nil) async throws -> TaskResponse {
        let (status, data) = try await raw("POST", "/v1/tasks" + (id.map { "?id=\(escape($0))" } ?? ""), body: definition)
        return try decodeAnswer(status, data)
    }

    public func tasks() async throws -> [TaskResponse] {
        try await call("GET", "/v1/tasks")
    }

    public func task(_ id: String) async throws -> TaskResponse {
        try await call("GET", "/v1/tasks/\(escape(id))")
    }

    public func stopTask(_ id: String) async throws -> TaskResponse {
        try await call("DELETE", "/v1/tasks/\(escape(id))")
    }

    // MARK: Transport

    private struct Empty: Decodable {}

    private func escape(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? component
    }

    /// Sends a request and decodes a JSON answer; the generic form of every call above.
    public func call<Answer: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = Optional<Int>.none) async throws -> Answer {
        let encoded = try body.map { try JSONEncoder().encode($0) }
        let (status, data) = try await raw(method, path, body: encoded)
        return try decodeAnswer(status, data)
    }

    private func decodeAnswer<Answer: Decodable>(_ status: Int, _ data: Data) throws -> Answer {
        guard (200..<300).contains(status) else {
            let message = (try? JSONDecoder().decode(ErrorResponse.self, from: data).message) ?? String(decoding: data, as: UTF8.self)
            throw FractalClientError.api(status: status, message: message)
        }
        if Answer.self == Empty.self { return Empty() as! Answer }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Answer.self, from: data)
        } catch {
            throw FractalClientError.malformedResponse("\(error)")
        }
    }

    private func raw(_ method: String, _ path: String, body: Data?) async throws -> (Int, Data) {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: path) else {
            throw FractalClientError.daemonNotReachable(socketPath: socketPath, reason: "not a usable socket path")
        }
        // The HTTP client retries a failed connect until its timeout, which is long so that many
        // lease requests may queue; one connect(2) first says at once why nothing answers.
        if UnixSocketProbe.failure(socketPath) != nil {
            throw FractalClientError.daemonNotReachable(socketPath: socketPath, reason: Self.diagnose(socketPath, nil))
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .init(rawValue: method)
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        do {
            let response = try await http.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), Data(bytes.readableBytesView))
        } catch let error as FractalClientError {
            throw error
        } catch {
            throw FractalClientError.daemonNotReachable(socketPath: socketPath, reason: Self.diagnose(socketPath, error))
        }
    }

    /// Turns a connection failure into the reason a person can act on.
    static func diagnose(_ socketPath: String, _ error: (any Error)?) -> String {
        var info = stat()
        if lstat(socketPath, &info) != 0 {
            let code = Errno(rawValue: errno)
            return code == .permissionDenied
                ? "permission denied on its directory: run as root or as a member of the socket's group"
                : "no socket there (\(code)): the daemon is not running"
        }
        if (info.st_mode & S_IFMT) != S_IFSOCK { return "the path exists but is not a socket" }
        if access(socketPath, R_OK | W_OK) != 0 {
            return "permission denied: the socket is mode 0660; run as root or as a member of its group"
        }
        return "nothing answers on the socket" + (error.map { " (\($0))" } ?? "") + "; the daemon may have stopped uncleanly"
    }
}
