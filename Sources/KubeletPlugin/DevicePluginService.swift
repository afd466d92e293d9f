import GRPCCore
import KubeletAPI

/// The v1beta1 `DevicePlugin` service of one pool, as the kubelet calls it on the pool's endpoint.
struct DevicePluginService: V1beta1_DevicePlugin.SimpleServiceProtocol {
    let plugin: KubeletPlugin
    let pool: KubeletPool

    func getDevicePluginOptions(request: V1beta1_Empty, context: ServerContext) async throws -> V1beta1_DevicePluginOptions {
        plugin.devicePluginOptions
    }

    /// The pool's slots at once, then again whenever one's health changes, until the kubelet hangs up.
    func listAndWatch(request: V1beta1_Empty, response: RPCWriter<V1beta1_ListAndWatchResponse>, context: ServerContext) async throws {
        let (stream, id) = plugin.watch(pool)
        defer { plugin.unwatch(pool, id: id) }
        for await devices in stream {
            var message = V1beta1_ListAndWatchResponse()
            message.devices = devices
            try await response.write(message)
        }
    }

    /// Any slots are as good as any others: the first `allocation_size`, those required first.
    func getPreferredAllocation(request: V1beta1_PreferredAllocationRequest, context: ServerContext) async throws -> V1beta1_PreferredAllocationResponse {
        var answer = V1beta1_PreferredAllocationResponse()
        answer.containerResponses = request.containerRequests.map { container in
            var preferred = V1beta1_ContainerPreferredAllocationResponse()
            preferred.deviceIds = SlotBook.preferred(
                available: container.availableDeviceIds, mustInclude: container.mustIncludeDeviceIds, size: Int(container.allocationSize))
            return preferred
        }
        return answer
    }

    func allocate(request: V1beta1_AllocateRequest, context: ServerContext) async throws -> V1beta1_AllocateResponse {
        try await plugin.allocate(request, in: pool)
    }

    /// Nothing to do before a container starts (and not asked for: `pre_start_required` is false).
    func preStartContainer(request: V1beta1_PreStartContainerRequest, context: ServerContext) async throws -> V1beta1_PreStartContainerResponse {
        V1beta1_PreStartContainerResponse()
    }
}
