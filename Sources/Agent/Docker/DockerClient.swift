import AsyncHTTPClient
import Foundation
import FractalSystem
import Logging
import Synchronization

/// A client for the Docker Engine API on dockerd's unix socket.
///
/// Owns one `HTTPClient`; call ``shutdown()`` when done (an `HTTPClient` must be shut down before
/// it is released). The API version is negotiated on first use: `GET /_ping`'s `API-Version`
/// (or `/version`), capped at ``DockerAPIVersion/maximumSupported``; every later path is versioned
/// (`/v1.43/containers/create`).
public final class DockerClient: Sendable {
    /// Where dockerd listens unless told otherwise.
    public static let defaultSocketPath = "/var/run/docker.sock"

    /// dockerd's unix socket.
    public let socketPath: String
    /// The newest API version this client addresses dockerd at.
    public let maximumAPIVersion: DockerAPIVersion
    private let http: HTTPClient
    private let logger: Logger
    private let negotiated = Mutex<DockerAPIVersion?>(nil)

    /// - Parameters:
    ///   - socketPath: dockerd's unix socket.
    ///   - maximumAPIVersion: the newest API version to use, even if dockerd speaks a newer one.
    public init(
        socketPath: String = DockerClient.defaultSocketPath,
        maximumAPIVersion: DockerAPIVersion = .maximumSupported,
        logger: Logger = Logger(label: "fractal.docker")
    ) {
        self.socketPath = socketPath
        self.maximumAPIVersion = min(maximumAPIVersion, .maximumSupported)
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        // Fail at once on connect errors, so callers see .unreachable and decide to retry
        // (``retryingConnect(attempts:initialDelay:_:)``) instead of waiting out the pool's backoff.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(5))
        configuration.decompression = .disabled
        http = HTTPClient(configuration: configuration)
    }

    /// Shuts the HTTP client down; in-flight requests (event streams included) fail.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Version

    /// `GET /_ping`: whether dockerd answers, and the API version it reports (`API-Version`), if any.
    @discardableResult
    public func ping() async throws(DockerError) -> DockerAPIVersion? {
        let response = try await send("ping", .GET, path: "/_ping", versioned: false)
        try response.expect(200, operation: "ping")
        return response.headers["api-version"].flatMap(DockerAPIVersion.init)
    }

    /// The API version used for every versioned path: negotiated once, then remembered.
    public func apiVersion() async throws(DockerError) -> DockerAPIVersion {
        if let version = negotiated.withLock({ $0 }) { return version }
        var server = try await ping()
        if server == nil {
            // Old daemons (and some proxies) leave the header out; /version has it too.
            let response = try await send("version", .GET, path: "/version", versioned: false)
            try response.expect(200, operation: "version")
            server = DockerAPIVersion(try response.decode(DockerVersion.self, operation: "version").ApiVersion)
        }
        guard let server else {
            throw .malformedResponse(operation: "negotiate API version", reason: "dockerd reported no API version")
        }
        guard let version = DockerAPIVersion.negotiate(server: server, maximum: maximumAPIVersion) else {
            throw .unsupportedAPIVersion(server: server.description, minimum: DockerAPIVersion.minimumSupported.description)
        }
        negotiated.withLock { $0 = version }
        logger.debug("negotiated Docker API version", metadata: ["server": "\(server)", "using": "\(version)"])
        return version
    }

    /// `GET /version`.
    public func version() async throws(DockerError) -> DockerVersion {
        let response = try await send("version", .GET, path: "/version")
        try response.expect(200, operation: "version")
        return try response.decode(DockerVersion.self, operation: "version")
    }

    /// Pings until dockerd answers, retrying connect failures (``retryingConnect(attempts:initialDelay:_:)``).
    public func waitUntilReachable(attempts: Int = 5, initialDelay: Duration = .milliseconds(100)) async throws(DockerError) {
        try await Self.retryingConnect(attempts: attempts, initialDelay: initialDelay) { () async throws(DockerError) in
            try await self.ping()
        }
    }

    // MARK: Images

    /// `GET /images/{name}/json`; nil when the image is not on this host.
    public func inspectImage(_ reference: String) async throws(DockerError) -> ImageInspection? {
        let operation = "inspect image \(reference)"
        let response = try await send(operation, .GET, path: "/images/\(Self.pathComponent(reference))/json")
        if response.status == 404 { return nil }
        try response.expect(200, operation: operation)
        return try response.decode(ImageInspection.self, operation: operation)
    }

    /// `POST /images/create?fromImage=&tag=`: pulls `reference`, reading the progress stream to its end.
    /// Fails with ``DockerError/imageUnavailable(image:reason:)`` when dockerd cannot get it.
    public func pullImage(_ reference: String, timeout: Duration = .seconds(1800)) async throws(DockerError) {
        let (name, tag) = Self.splitReference(reference)
        let operation = "pull image \(reference)"
        do {
            let response = try await send(
                operation, .POST, path: "/images/create", query: [("fromImage", name), ("tag", tag)], timeout: timeout)
            try response.expect(200, operation: operation)
            try Self.checkProgress(response.body, operation: operation)
        } catch {
            switch error {
            case .unreachable: throw error
            case .api(_, _, let message), .streamed(_, let message): throw .imageUnavailable(image: reference, reason: message)
            default: throw .imageUnavailable(image: reference, reason: error.description)
            }
        }
        logger.info("pulled image", metadata: ["image": "\(reference)"])
    }

    /// The image's inspection, pulling it first when it is not on this host.
    public func ensureImage(_ reference: String) async throws(DockerError) -> ImageInspection {
        if let image = try await inspectImage(reference) { return image }
        try await pullImage(reference)
        guard let image = try await inspectImage(reference) else {
            throw .imageUnavailable(image: reference, reason: "dockerd reported the pull done but has no such image")
        }
        return image
    }

    /// `POST /images/create?fromSrc=-`: makes an image from a root filesystem tarball (`docker import`).
    /// - Returns: the new image's ID.
    @discardableResult
    public func importImage(tarball: [UInt8], repository: String, tag: String = "latest") async throws(DockerError) -> String {
        let operation = "import image \(repository):\(tag)"
        let response = try await send(
            operation, .POST, path: "/images/create", query: [("fromSrc", "-"), ("repo", repository), ("tag", tag)],
            body: tarball, contentType: "application/x-tar", timeout: .seconds(600))
        try response.expect(200, operation: operation)
        let lines = try Self.checkProgress(response.body, operation: operation)
        // The last status line is the image ID.
        return lines.last(where: { $0.status != nil })?.status ?? ""
    }

    /// `DELETE /images/{name}`.
    public func removeImage(_ reference: String, force: Bool = false) async throws(DockerError) {
        let operation = "remove image \(reference)"
        let response = try await send(
            operation, .DELETE, path: "/images/\(Self.pathComponent(reference))", query: [("force", String(force))])
        try response.expect(200, operation: operation)
    }

    // MARK: Containers

    /// `POST /containers/create?name=`.
    public func createContainer(_ creation: ContainerCreation) async throws(DockerError) -> ContainerCreated {
        let operation = "create container \(creation.name)"
        let body: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            body = [UInt8](try encoder.encode(creation.request))
        } catch {
            throw .malformedResponse(operation: operation, reason: "could not encode the request: \(error)")
        }
        let response = try await send(operation, .POST, path: "/containers/create", query: [("name", creation.name)], body: body)
        try response.expect(201, operation: operation)
        return try response.decode(ContainerCreated.self, operation: operation)
    }

    /// `POST /containers/{id}/start`; a container already running is not an error.
    public func startContainer(_ id: String) async throws(DockerError) {
        let operation = "start container \(id)"
        let response = try await send(operation, .POST, path: "/containers/\(Self.pathComponent(id))/start")
        try response.expect(204, 304, operation: operation)
    }

    /// `POST /containers/{id}/stop?t=`: SIGTERM (or the image's stop signal), SIGKILL after `timeout`
    /// seconds; a container already stopped is not an error.
    public func stopContainer(_ id: String, timeout seconds: Int = 10) async throws(DockerError) {
        let operation = "stop container \(id)"
        let response = try await send(
            operation, .POST, path: "/containers/\(Self.pathComponent(id))/stop", query: [("t", String(seconds))],
            timeout: .seconds(seconds + 60))
        try response.expect(204, 304, operation: operation)
    }

    /// `DELETE /containers/{id}?force=`: removes the container (killing it first when `force`).
    /// - Parameter volumes: also remove its anonymous volumes.
    public func removeContainer(_ id: String, force: Bool = true, volumes: Bool = false) async throws(DockerError) {
        let operation = "remove container \(id)"
        let response = try await send(
            operation, .DELETE, path: "/containers/\(Self.pathComponent(id))",
            query: [("force", String(force)), ("v", String(volumes))])
        try response.expect(204, operation: operation)
    }

    /// `GET /containers/{id}/json`; nil when there is no such container.
    public func inspectContainer(_ id: String) async throws(DockerError) -> ContainerInspection? {
        let operation = "inspect container \(id)"
        let response = try await send(operation, .GET, path: "/containers/\(Self.pathComponent(id))/json")
        if response.status == 404 { return nil }
        try response.expect(200, operation: operation)
        return try response.decode(ContainerInspection.self, operation: operation)
    }

    /// `GET /containers/json?all=&filters=`: e.g. every container fractal-agent made,
    /// with `.label(ContainerLabel.id)`.
    public func listContainers(_ filters: DockerFilters = .label(ContainerLabel.id), all: Bool = true) async throws(DockerError) -> [ContainerSummary] {
        let operation = "list containers"
        let response = try await send(
            operation, .GET, path: "/containers/json", query: [("all", String(all)), ("filters", filters.json)])
        try response.expect(200, operation: operation)
        return try response.decode([ContainerSummary].self, operation: operation)
    }

    /// `POST /containers/{id}/wait`: waits (without a deadline) until the container stops.
    /// - Returns: its exit status.
    public func waitContainer(_ id: String, condition: String = "not-running") async throws(DockerError) -> Int {
        let operation = "wait for container \(id)"
        let response = try await send(
            operation, .POST, path: "/containers/\(Self.pathComponent(id))/wait", query: [("condition", condition)], timeout: nil)
        try response.expect(200, operation: operation)
        let result = try response.decode(ContainerWaitResponse.self, operation: operation)
        if let message = result.Error?.Message, !message.isEmpty { throw .streamed(operation: operation, message: message) }
        return result.StatusCode
    }

    // MARK: Volumes

    /// `POST /volumes/create` for a task's Docker volume; creating one that exists is not an error.
    public func createVolume(_ volume: PlannedDockerVolume) async throws(DockerError) {
        let operation = "create volume \(volume.dockerName)"
        let request = VolumeCreateRequest(
            Name: volume.dockerName, Driver: volume.driver, DriverOpts: volume.driverOptions.nonEmpty, Labels: volume.labels.nonEmpty)
        let body: [UInt8]
        do {
            body = [UInt8](try JSONEncoder().encode(request))
        } catch {
            throw .malformedResponse(operation: operation, reason: "could not encode the request: \(error)")
        }
        let response = try await send(operation, .POST, path: "/volumes/create", body: body)
        try response.expect(201, 200, operation: operation)
    }

    /// `DELETE /volumes/{name}`; a volume already gone is not an error.
    public func removeVolume(_ name: String, force: Bool = false) async throws(DockerError) {
        let operation = "remove volume \(name)"
        let response = try await send(
            operation, .DELETE, path: "/volumes/\(Self.pathComponent(name))", query: [("force", String(force))])
        try response.expect(204, 404, operation: operation)
    }

    // MARK: Events

    /// `GET /events?filters=`: follows dockerd's events; by default containers dying and being removed.
    ///
    /// Returns once dockerd has accepted the subscription, so events after this call are not missed.
    /// Stop iterating (or cancel the iterating task) to end the request.
    public func events(
        _ filters: DockerFilters = .containerEvents(["die", "destroy"]), since: Date? = nil
    ) async throws(DockerError) -> DockerEventStream {
        let operation = "follow events"
        var query = [("filters", filters.json)]
        if let since { query.append(("since", String(Int64(since.timeIntervalSince1970)))) }
        let response = try await send(operation, .GET, path: "/events", query: query, timeout: nil, streaming: true)
        if response.status != 200 {
            let collected = try await Self.collect(response.streamingBody, operation: operation)
            throw Self.apiError(status: response.status, body: collected, operation: operation)
        }
        let (stream, continuation) = AsyncThrowingStream<DockerEvent, any Error>.makeStream()
        let socketPath = self.socketPath
        let reader = Task {
            var pending: [UInt8] = []
            do {
                for try await chunk in response.streamingBody! {
                    pending.append(contentsOf: chunk.readableBytesView)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = Array(pending[..<newline])
                        pending.removeSubrange(...newline)
                        if let event = DockerEvent.decode(line: line) { continuation.yield(event) }
                    }
                }
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                let reason = UnixSocketProbe.failure(socketPath)
                continuation.finish(
                    throwing: reason.map { DockerError.unreachable(socketPath: socketPath, reason: $0) }
                        ?? DockerError.transport(operation: operation, reason: String(describing: error)))
            }
        }
        continuation.onTermination = { _ in reader.cancel() }
        return DockerEventStream(stream: stream)
    }

    // MARK: Retry

    /// Runs `operation`, retrying while dockerd is unreachable: up to `attempts` tries, waiting
    /// `initialDelay` and doubling it between tries. Other errors are thrown at once.
    @discardableResult
    public static func retryingConnect<T>(
        attempts: Int = 5, initialDelay: Duration = .milliseconds(100),
        _ operation: () async throws(DockerError) -> T
    ) async throws(DockerError) -> T {
        var delay = initialDelay
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch where error.isUnreachable && attempt < attempts {
                let connectError = error
                attempt += 1
                // Cancelled while waiting: give up with the connect error, not a CancellationError.
                do { try await Task.sleep(for: delay) } catch { throw connectError }
                delay *= 2
            }
        }
    }

    // MARK: Transport

    enum Method {
        case GET, POST, DELETE
    }

    struct Response: Sendable {
        var status: Int
        /// Names lowercased.
        var headers: [String: String]
        var body: [UInt8]
        /// Set instead of `body` for streaming requests.
        var streamingBody: HTTPClientResponse.Body?

        func expect(_ statuses: Int..., operation: String) throws(DockerError) {
            guard statuses.contains(status) else { throw DockerClient.apiError(status: status, body: body, operation: operation) }
        }

        func decode<T: Decodable>(_ type: T.Type, operation: String) throws(DockerError) -> T {
            do {
                return try JSONDecoder().decode(type, from: Data(body))
            } catch {
                throw .malformedResponse(operation: operation, reason: "\(error)")
            }
        }
    }

    /// The most of a non-streamed answer read into memory.
    static let maximumBodySize = 64 * 1024 * 1024

    /// How long one ordinary request may take. Creating and starting a container sets up
    /// namespaces, cgroups and mounts; on a loaded host that takes far longer than a lookup.
    static let requestTimeout: Duration = .seconds(180)

    private func send(
        _ operation: String, _ method: Method, path: String, query: [(String, String)] = [], versioned: Bool = true,
        body: [UInt8]? = nil, contentType: String = "application/json", timeout: Duration? = requestTimeout,
        streaming: Bool = false
    ) async throws(DockerError) -> Response {
        let prefix = versioned ? "/v\(try await apiVersion())" : ""
        let queryText = query.isEmpty ? "" : "?" + query.map { "\($0.0)=\(Self.queryComponent($0.1))" }.joined(separator: "&")
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: prefix + path + queryText) else {
            throw .transport(operation: operation, reason: "cannot make a URL for socket \(socketPath)")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        // A unix-socket URL has no host, so the client sends no Host header; dockerd (Go's HTTP
        // server) refuses HTTP/1.1 requests without one. Docker's own client sends a dummy too.
        request.headers.add(name: "Host", value: "docker")
        switch method {
        case .GET: request.method = .GET
        case .POST: request.method = .POST
        case .DELETE: request.method = .DELETE
        }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(body)
        }
        do {
            let response: HTTPClientResponse
            if let timeout {
                response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.wholeNanoseconds)))
            } else {
                response = try await http.execute(request, deadline: .distantFuture)
            }
            var headers: [String: String] = [:]
            // Go canonicalises names (`Api-Version`); look them up lowercased.
            for header in response.headers { headers[header.name.lowercased()] = header.value }
            let status = Int(response.status.code)
            if streaming {
                return Response(status: status, headers: headers, body: [], streamingBody: response.body)
            }
            var collected: [UInt8] = []
            for try await chunk in response.body {
                collected.append(contentsOf: chunk.readableBytesView)
                if collected.count > Self.maximumBodySize {
                    throw DockerError.malformedResponse(operation: operation, reason: "the answer is over \(Self.maximumBodySize) bytes")
                }
            }
            return Response(status: status, headers: headers, body: collected, streamingBody: nil)
        } catch let error as DockerError {
            throw error
        } catch {
            // Say why the socket could not be reached when that is what happened.
            if let reason = UnixSocketProbe.failure(socketPath) {
                throw .unreachable(socketPath: socketPath, reason: reason)
            }
            throw .transport(operation: operation, reason: String(describing: error))
        }
    }

    private static func collect(_ body: HTTPClientResponse.Body?, operation: String) async throws(DockerError) -> [UInt8] {
        guard let body else { return [] }
        var collected: [UInt8] = []
        do {
            for try await chunk in body {
                collected.append(contentsOf: chunk.readableBytesView)
                if collected.count > 1024 * 1024 { break }
            }
        } catch {
            throw .transport(operation: operation, reason: String(describing: error))
        }
        return collected
    }

    static func apiError(status: Int, body: [UInt8], operation: String) -> DockerError {
        let message = (try? JSONDecoder().decode(DockerMessage.self, from: Data(body)))?.message
            ?? String(decoding: body.prefix(1000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return .api(operation: operation, status: status, message: message.isEmpty ? "(no message)" : message)
    }

    /// Reads a pull or import progress stream (one JSON object per line); throws the first error line.
    @discardableResult
    static func checkProgress(_ body: [UInt8], operation: String) throws(DockerError) -> [DockerProgressLine] {
        var lines: [DockerProgressLine] = []
        for line in body.split(separator: UInt8(ascii: "\n")) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            guard let progress = try? JSONDecoder().decode(DockerProgressLine.self, from: Data(line)) else { continue }
            if let message = progress.errorDetail?.message ?? progress.error {
                throw .streamed(operation: operation, message: message)
            }
            lines.append(progress)
        }
        return lines
    }

    /// Splits `name[:tag]` or `name@digest` into what `/images/create` takes (`tag` holds a digest too).
    static func splitReference(_ reference: String) -> (name: String, tag: String) {
        if let at = reference.firstIndex(of: "@") {
            return (String(reference[..<at]), String(reference[reference.index(after: at)...]))
        }
        // A ':' before the last '/' is a registry's port, not a tag.
        let lastSlash = reference.lastIndex(of: "/") ?? reference.startIndex
        if let colon = reference[lastSlash...].lastIndex(of: ":") {
            return (String(reference[..<colon]), String(reference[reference.index(after: colon)...]))
        }
        return (reference, "latest")
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    static func queryComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// A path segment; image references keep their `/` (Docker routes `/images/{name:.*}/json`).
    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved.union(CharacterSet(charactersIn: "/:@"))) ?? text
    }
}
