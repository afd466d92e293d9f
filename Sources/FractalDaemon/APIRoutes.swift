import Agent
import DeviceManager
import FractalAPI
import FractalSystem
import FractalVersion
import Foundation
import Hummingbird
import Logging
import SessionServer

/// The HTTP API, Docker-style: versioned paths, JSON bodies, errors as `{"message": ...}`.
struct APIRoutes: Sendable {
    let manager: LeaseManager
    let tasks: TaskRunner
    let metrics: DaemonMetrics
    let logger: Logger

    /// Request bodies larger than this are refused: no request of this API comes near it.
    static let maximumBodyBytes = 1 << 20

    /// A lease as the API reports it, naming its CDI device when the daemon writes specs.
    private func response(_ lease: Lease) -> LeaseResponse {
        LeaseResponse(lease, cdi: manager.configuration.cdiDirectory != nil)
    }

    func register(on router: Router<APIRequestContext>) {
        router.get("/_ping") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "OK"))) }
        router.get("/metrics") { _, _ in
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: metrics.render(manager))))
            response.headers[.contentType] = "text/plain; version=0.0.4"
            return response
        }
        router.get("/v1/version") { _, _ in
            json(VersionResponse(version: fractalVersion, gitHash: fractalGitHash))
        }
        router.get("/v1/leases") { _, _ in
            json(manager.leases().map(response))
        }
        router.post("/v1/leases") { request, context in
            await handle("create lease") {
                let body = try await decode(CreateLeaseRequest.self, from: request)
                let leaseRequest = try leaseRequest(from: body, owner: context.peer)
                let clock = ContinuousClock()
                let start = clock.now
                let lease = try await manager.createInTurn(leaseRequest)
                metrics.leaseCreateSeconds.record(clock.now - start)
                metrics.leasesCreated.increment()
                logger.info("lease \(lease.id) created: \(lease.devices.map(\.role.rawValue).joined(separator: ",")) \(lease.nodes.map(\.path).joined(separator: " "))")
                return json(response(lease), status: .created)
            }
        }
        router.get("/v1/leases/:id") { _, context in
            await handle("inspect lease") {
                let id = try fractalID(context)
                return json(response(try manager.lease(id)))
            }
        }
        router.delete("/v1/leases/:id") { request, context in
            await handle("release lease") {
                let id = try fractalID(context)
                let keep = request.uri.queryParameters.get("keepDirs").map { $0 == "1" || $0 == "true" } ?? false
                let lease = try await runBlocking { try manager.release(id, keepDirectories: keep) }
                metrics.leasesReleased.increment()
                logger.info("lease \(id) released")
                let kept = lease.directories.filter { keep || $0.keep }.map(\.path)
                let removed = lease.directories.map(\.path).filter { !kept.contains($0) }
                return json(ReleaseResponse(id: id, devices: lease.devices.count, directoriesRemoved: removed, directoriesKept: kept))
            }
        }
        router.post("/v1/leases/:id/devices") { request, context in
            await handle("plug device") {
                let id = try fractalID(context)
                let body = try await decode(PlugRequest.self, from: request)
                guard let handle = DeviceHandle(body.role) else { throw APIError.badRequest(unknownDeviceMessage(body.role)) }
                // A running container's device grants are fixed: only its lease's slots can be plugged.
                let fixed = tasks.hasContainers(id)
                let lease = try await runBlocking { try manager.plug(id, handle: handle, creatingIfMissing: !fixed) }
                metrics.devicesPlugged.increment()
                logger.info("lease \(id): \(handle) plugged in")
                return json(response(lease))
            }
        }
        router.delete("/v1/leases/:id/devices/:role") { _, context in
            await handle("unplug device") {
                let id = try fractalID(context)
                let name = try context.parameters.require("role")
                guard let handle = DeviceHandle(name) else { throw APIError.badRequest(unknownDeviceMessage(name)) }
                let fixed = tasks.hasContainers(id)
                let lease = try await runBlocking { try manager.unplug(id, handle: handle, destroying: !fixed) }
                metrics.devicesUnplugged.increment()
                logger.info("lease \(id): \(handle) unplugged")
                return json(response(lease))
            }
        }
        router.post("/v1/leases/:id/events") { request, context in
            await handle("inject events") {
                let id = try fractalID(context)
                let body = try await decode(InjectRequest.self, from: request)
                guard let handle = DeviceHandle(body.role) else { throw APIError.badRequest(unknownDeviceMessage(body.role)) }
                guard !body.events.isEmpty else { throw APIError.badRequest("events is empty") }
                let events = body.events
                try await runBlocking { try manager.inject(id, handle: handle, events: events) }
                metrics.eventsInjected.increment(by: Int64(events.count))
                return Response(status: .noContent)
            }
        }
        router.post("/v1/leases/:id/text") { request, context in
            await handle("type text") {
                let id = try fractalID(context)
                let body = try await decode(TextRequest.self, from: request)
                guard !body.text.isEmpty else { throw APIError.badRequest("text is empty") }
                guard body.text.count <= TextRequest.maximumCharacters else {
                    throw APIError.badRequest("text has \(body.text.count) characters; at most \(TextRequest.maximumCharacters) per request")
                }
                // Every character is mapped before any is typed: an untypable one leaves nothing half-typed.
                let text = body.text
                let batches = try await runBlocking { try KeyboardLayout(try body.layoutName()).batches(typing: text) }
                for (index, batch) in batches.enumerated() {
                    // A pause between batches lets readers drain their evdev buffers.
                    if index > 0 { try await Task.sleep(for: SessionServer.Limits().textBatchInterval) }
                    try await runBlocking { try manager.inject(id, handle: DeviceHandle(.keyboard), events: batch) }
                    metrics.eventsInjected.increment(by: Int64(batch.count))
                }
                return json(TextResponse(characters: text.count, events: batches.reduce(0) { $0 + $1.count }))
            }
        }
    }

    func registerTasks(on router: Router<APIRequestContext>) {
        router.post("/v1/tasks") { request, context in
            await handle("run task") {
                var request = request
                let id: FractalID?
                do { id = try request.uri.queryParameters.get("id").map { try FractalID(String($0)) } } catch {
                    throw APIError.badRequest("id: \(error)")
                }
                let body: ByteBuffer
                do { body = try await request.collectBody(upTo: Self.maximumBodyBytes) } catch {
                    throw APIError.status(.contentTooLarge, "task definition over \(Self.maximumBodyBytes) bytes")
                }
                let record = try await tasks.run(definition: Data(body.readableBytesView), id: id, owner: context.peer)
                metrics.leasesCreated.increment()
                return json(record, status: .created)
            }
        }
        router.get("/v1/tasks") { _, _ in json(await tasks.list()) }
        router.get("/v1/tasks/:id") { _, context in
            await handle("inspect task") { json(try await tasks.task(try fractalID(context))) }
        }
        router.delete("/v1/tasks/:id") { _, context in
            await handle("stop task") {
                let record = try await tasks.stop(try fractalID(context))
                metrics.leasesReleased.increment()
                return json(record)
            }
        }
    }

    // MARK: Helpers

    private func leaseRequest(from body: CreateLeaseRequest, owner: LeaseOwner?) throws -> LeaseRequest {
        var request = LeaseRequest(owner: owner, note: body.note)
        if let text = body.id {
            do { request.id = try FractalID(text) } catch { throw APIError.badRequest("id: \(error)") }
        }
        if let roles = body.devices {
            request.devices = try roles.map { name in
                guard let role = DeviceRole(rawValue: name) else { throw APIError.badRequest(unknownRoleMessage(name)) }
                return role
            }
        }
        request.directories = body.directories ?? []
        if let roles = body.hotplug {
            request.hotplug = try roles.map { name in
                guard let role = DeviceRole(rawValue: name) else { throw APIError.badRequest(unknownRoleMessage(name)) }
                return role
            }
        }
        if let name = body.policy {
            guard let policy = InputPolicy(rawValue: name) else {
                throw APIError.badRequest("unknown policy '\(name)'; known policies: \(InputPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            request.policy = policy
        }
        return request
    }

    private func unknownRoleMessage(_ name: String) -> String {
        "unknown device role '\(name)'; known roles: \(DeviceRole.allCases.map(\.rawValue).joined(separator: ", "))"
    }

    /// For a lease's device: its role, or a game controller's role numbered from its second.
    private func unknownDeviceMessage(_ name: String) -> String {
        "unknown device '\(name)': a lease names its devices by role (\(DeviceRole.allCases.map(\.rawValue).joined(separator: ", ")))"
            + ", numbering game controllers from the second of a kind (gamepad-2 ... gamepad-\(DeviceHandle.maximumGamepads))"
    }

    private func fractalID(_ context: APIRequestContext) throws -> FractalID {
        let text = try context.parameters.require("id")
        do { return try FractalID(text) } catch { throw APIError.badRequest("\(error)") }
    }

    private func decode<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: Self.maximumBodyBytes)
        } catch {
            throw APIError.status(.contentTooLarge, "request body over \(Self.maximumBodyBytes) bytes")
        }
        do {
            return try JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.badRequest("malformed request body: \(describe(error))")
        }
    }

    private func handle(_ operation: String, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch {
            let (status, message) = Self.statusAndMessage(for: error)
            metrics.error(operation, status: status.code)
            if status.code >= 500 { logger.error("\(operation) failed: \(message)") } else { logger.notice("\(operation) refused: \(message)") }
            return json(ErrorResponse(message: message), status: status)
        }
    }

    static func statusAndMessage(for error: any Error) -> (HTTPResponse.Status, String) {
        switch error {
        case let error as APIError:
            switch error {
            case .badRequest(let message): return (.badRequest, message)
            case .status(let status, let message): return (status, message)
            }
        case let error as TaskError:
            switch error {
            case .definition(let cause): return (.badRequest, "task definition: \(cause)")
            case .lease(let cause): return statusAndMessage(for: cause)
            case .creation(let cause): return (.badRequest, "\(cause)")
            case .notFound: return (.notFound, error.description)
            case .duplicate: return (.conflict, error.description)
            case .docker(let cause):
                switch cause {
                case .unreachable: return (.serviceUnavailable, cause.description)
                case .imageUnavailable: return (.notFound, cause.description)
                default: return (.badGateway, cause.description)
                }
            }
        case let error as KeyboardLayoutError:
            if case .untypable = error { return (.unprocessableContent, error.description) }
            return (.badRequest, error.description)
        case let error as LeaseError:
            let status: HTTPResponse.Status
            switch error {
            case .duplicate, .busy, .alreadyPlugged, .notPlugged, .notProvisioned, .pathTaken: status = .conflict
            case .notFound: status = .notFound
            // Missing udev rules: the host cannot hand out devices safely until the operator installs them.
            case .limitReached, .udevRulesMissing, .queueFull: status = .serviceUnavailable
            case .device(_, let cause as UInputError) where cause.code == .inputMinorsExhausted: status = .serviceUnavailable
            // A pad whose kernel driver (or uhid) this host lacks: the message names the module.
            case .device(_, let cause as UHIDError) where cause.code == .driverMissing || cause.code == .moduleNotLoaded:
                status = .serviceUnavailable
            case .duplicateRole, .empty, .unknownRole, .directory, .cdiName, .idTooLongForPad, .tooManyGamepads:
                status = .badRequest
            case .udevTimeout: status = .gatewayTimeout
            case .device, .udev, .store, .write, .releaseIncomplete, .cdiSpec: status = .internalServerError
            }
            return (status, error.description)
        default:
            return (.internalServerError, "\(error)")
        }
    }
}

/// Refusals decided by the API layer itself.
enum APIError: Error {
    case badRequest(String)
    case status(HTTPResponse.Status, String)
}

private let jsonEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    return encoder
}()

func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? jsonEncoder.encode(value)) ?? Data(#"{"message":"response could not be encoded"}"#.utf8)
    var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    response.headers[.contentType] = "application/json"
    return response
}

/// A decoding error as a person reads it: the field path and what was wrong.
func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
    }
    switch error {
    case .typeMismatch(let type, let context): return "\(path(context.codingPath)): expected \(type)"
    case .valueNotFound(let type, let context): return "\(path(context.codingPath)): missing \(type)"
    case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): required"
    case .dataCorrupted(let context):
        let field = path(context.codingPath)
        let cause = (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
        return field.isEmpty ? "not valid JSON: \(cause)" : "\(field): \(cause)"
    @unknown default: return "\(error)"
    }
}
