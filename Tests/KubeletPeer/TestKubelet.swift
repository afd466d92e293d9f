import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KubeletAPI
import Synchronization

/// The kubelet's side of the device-plugin protocol, played by the VM tests and fractal-bench: no
/// kubelet runs in the VM, so its `Registration` and `PodResourcesLister` servers are implemented
/// here from the same upstream protocol definitions (Sources/KubeletAPI), over unix sockets in a
/// temporary directory, with a `DevicePlugin` client for the plugin's endpoints.
public final class TestKubelet: Sendable {
    /// Stands for `/var/lib/kubelet/device-plugins`.
    public let directory: String
    /// Stands for `/var/lib/kubelet/pod-resources/kubelet.sock`.
    public let podResourcesSocket: String
    /// Stands for `/var/lib/kubelet/device-plugins/kubelet.sock`, where plugins register.
    public var kubeletSocket: String { directory + "/kubelet.sock" }

    /// Every `Register` received, in order.
    public let registrations = Mutex<[V1beta1_RegisterRequest]>([])
    /// What `List` answers: pod name to its one container's devices (resource name, device IDs).
    public let pods = Mutex<[String: (resource: String, ids: [String])]>([:])
    private let servers = Mutex<[String: Task<Void, Never>]>([:])

    public init() throws {
        let base = "/tmp/kubelet-\(UUID().uuidString.prefix(8).lowercased())"
        directory = base + "/device-plugins"
        podResourcesSocket = base + "/pod-resources/kubelet.sock"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/pod-resources", withIntermediateDirectories: true)
    }

    /// Starts both servers and waits until they listen.
    public func start() async throws {
        try await serve(at: podResourcesSocket, PodResources(kubelet: self))
        try await serve(at: kubeletSocket, Registration(kubelet: self))
    }

    /// What a kubelet restart does to the directory: its socket made anew, every plugin's deleted.
    public func restartRegistration() async throws {
        await stop(kubeletSocket)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            unlink(directory + "/" + name)
        }
        try await serve(at: kubeletSocket, Registration(kubelet: self))
    }

    /// At the end of the test: the servers stop and their sockets go.
    public func stopAll() {
        for task in servers.withLock({ $0.values }) { task.cancel() }
    }

    private func serve(at path: String, _ service: any RegistrableRPCService) async throws {
        let transport = HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: path), transportSecurity: .plaintext)
        let server = GRPCServer(transport: transport, services: [service])
        let task = Task { _ = try? await server.serve() }
        _ = try await transport.listeningAddress
        servers.withLock { $0[path] = task }
    }

    /// Waits until the server has closed: NIO unlinks a unix socket's path when its listener
    /// closes, which would take the new server's socket if it came after the new bind.
    private func stop(_ path: String) async {
        let task = servers.withLock { $0.removeValue(forKey: path) }
        task?.cancel()
        await task?.value
        unlink(path)
    }

    /// How many `Register` calls named `resource`.
    public func registered(_ resource: String) -> Int {
        registrations.withLock { $0.filter { $0.resourceName == resource }.count }
    }

    /// Calls `body` with a client of the plugin's endpoint `endpoint` in `directory`.
    public func withPlugin<Result: Sendable>(
        _ endpoint: String, _ body: (V1beta1_DevicePlugin.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: directory + "/" + endpoint), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in
            try await body(V1beta1_DevicePlugin.Client(wrapping: client))
        }
    }

    /// The first list ListAndWatch sends.
    public func firstList(_ endpoint: String) async throws -> [V1beta1_Device] {
        try await withPlugin(endpoint) { plugin in
            try await plugin.listAndWatch(V1beta1_Empty()) { response in
                for try await message in response.messages { return message.devices }
                return []
            }
        }
    }

    /// One Allocate with a container request per list of device IDs.
    public func allocate(_ endpoint: String, _ containers: [[String]]) async throws -> V1beta1_AllocateResponse {
        var request = V1beta1_AllocateRequest()
        request.containerRequests = containers.map { ids in
            var container = V1beta1_ContainerAllocateRequest()
            container.devicesIds = ids
            return container
        }
        return try await withPlugin(endpoint) { plugin in try await plugin.allocate(request) }
    }

    private struct Registration: V1beta1_Registration.SimpleServiceProtocol {
        let kubelet: TestKubelet

        func register(request: V1beta1_RegisterRequest, context: ServerContext) async throws -> V1beta1_Empty {
            kubelet.registrations.withLock { $0.append(request) }
            return V1beta1_Empty()
        }
    }

    private struct PodResources: V1_PodResourcesLister.SimpleServiceProtocol {
        let kubelet: TestKubelet

        func list(request: V1_ListPodResourcesRequest, context: ServerContext) async throws -> V1_ListPodResourcesResponse {
            var answer = V1_ListPodResourcesResponse()
            answer.podResources = kubelet.pods.withLock { $0 }.sorted { $0.key < $1.key }.map { name, devices in
                var pod = V1_PodResources()
                pod.name = name
                pod.namespace = "default"
                var container = V1_ContainerResources()
                container.name = "session"
                var held = V1_ContainerDevices()
                held.resourceName = devices.resource
                held.deviceIds = devices.ids
                container.devices = [held]
                pod.containers = [container]
                return pod
            }
            return answer
        }

        func getAllocatableResources(request: V1_AllocatableResourcesRequest, context: ServerContext) async throws -> V1_AllocatableResourcesResponse {
            throw RPCError(code: .unimplemented, message: "not played by the test")
        }

        func get(request: V1_GetPodResourcesRequest, context: ServerContext) async throws -> V1_GetPodResourcesResponse {
            throw RPCError(code: .unimplemented, message: "not played by the test")
        }
    }
}
