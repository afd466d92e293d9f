import DeviceManager
import FractalSystem
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KubeletAPI
import Logging
import ServiceLifecycle
import Synchronization

/// The Kubernetes device plugin (`fractal-agent --kubelet`): each pool's slots registered with the
/// kubelet, a lease made per slot on Allocate, released when PodResources no longer lists the slot.
///
/// It runs in the daemon's service group and calls the `LeaseManager` directly. A kubelet that is
/// absent or restarts is waited for and logged once per change, never a reason to exit.
public final class KubeletPlugin: Service, Sendable {
    /// What `--kubelet` and its options say.
    public struct Configuration: Sendable {
        /// The kubelet's device-plugin directory: its `kubelet.sock` and our endpoint sockets.
        public var directory: String = "/var/lib/kubelet/device-plugins"
        /// The kubelet's PodResources socket.
        public var podResourcesSocket: String = "/var/lib/kubelet/pod-resources/kubelet.sock"
        /// Slots advertised per pool.
        public var slotsPerPool: Int
        /// Between PodResources polls; also how young a lease is kept though no pod lists it yet.
        public var pollInterval: Duration = .seconds(10)
        public var pools: [KubeletPool] = KubeletPool.all
        /// Whether Allocate answers each lease's CDI name: only when the daemon writes CDI specs
        /// (`--cdi-dir`), since a runtime fails a container whose CDI name it cannot resolve.
        public var cdiNames: Bool = true

        public init(slotsPerPool: Int) {
            self.slotsPerPool = slotsPerPool
        }

        /// The kubelet's registration socket.
        public var kubeletSocket: String { directory + "/kubelet.sock" }

        func endpointPath(_ pool: KubeletPool) -> String { directory + "/" + pool.endpoint }
    }

    /// The kubelet's words for a device's health.
    static let healthy = "Healthy"
    static let unhealthy = "Unhealthy"

    private struct State {
        var book: SlotBook
        var health: PoolHealth = .healthy
        /// Each pool's ListAndWatch streams, and the list each was sent last.
        var watchers: [KubeletPool: [Int: AsyncStream<[V1beta1_Device]>.Continuation]] = [:]
        var sent: [KubeletPool: [V1beta1_Device]] = [:]
        var nextWatcher = 0
    }

    let configuration: Configuration
    let manager: LeaseManager
    let logger: Logger
    private let state: Mutex<State>

    public init(configuration: Configuration, manager: LeaseManager, logger: Logger) {
        self.configuration = configuration
        self.manager = manager
        self.logger = logger
        state = Mutex(State(book: SlotBook(slotsPerPool: configuration.slotsPerPool)))
    }

    /// Runs until the daemon's graceful shutdown: reconciles, then keeps every pool registered,
    /// polls PodResources and follows the host's health. Never throws: the kubelet is waited for.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.serve() }
    }

    private func serve() async {
        guard await reconcileAtStart() else { return }
        await withTaskGroup(of: Void.self) { group in
            for pool in configuration.pools {
                group.addTask { await self.keepRegistered(pool) }
            }
            group.addTask { await self.pollPodResources() }
            group.addTask { await self.followHealth() }
        }
        state.withLock { state in
            for continuation in state.watchers.values.flatMap(\.values) { continuation.finish() }
            state.watchers = [:]
        }
    }

    // MARK: Start-up

    /// Before registering: one PodResources answer decides what happens to the leases an earlier
    /// run left (kept, made again, or released), so a restart leaks and double-allocates nothing.
    /// False when cancelled while waiting for the kubelet.
    private func reconcileAtStart() async -> Bool {
        var log = StateLog(logger: logger)
        var pods: [SlotBook.PodDevices]?
        while pods == nil {
            if Task.isCancelled { return false }
            do {
                pods = try await listPodResources()
            } catch {
                log.report("waiting", "waiting for the kubelet's PodResources at \(configuration.podResourcesSocket) before reconciling its leases: \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
        let plan = SlotBook.reconcile(manager.leases(), held: SlotBook.held(in: pods ?? []))
        for id in plan.release {
            logger.notice("kubelet: releasing lease \(id): no pod holds its slot any more")
            await release(id)
        }
        for (slot, allocation) in plan.keep {
            state.withLock { $0.book.allocate(slot, lease: allocation.lease, at: allocation.since) }
        }
        for (slot, id) in plan.remake.sorted(by: { $0.key < $1.key }) {
            // The pod keeps the CDI name it was given; its devices ended with the previous process.
            await release(id)
            do {
                let lease = try await manager.createInTurn(LeaseRequest(id: id, devices: slot.pool.devices, note: slot.leaseNote))
                state.withLock { $0.book.allocate(slot, lease: lease.id, at: Date()) }
                logger.notice("kubelet: slot \(slot) made again as lease \(id): its pod still holds it and its devices had ended")
            } catch {
                logger.error("kubelet: slot \(slot) is held by a pod but its lease \(id) could not be made again: \(error)")
            }
        }
        logger.info("kubelet: reconciled against PodResources: \(plan.keep.count) kept, \(plan.remake.count) made again, \(plan.release.count) released")
        return true
    }

    // MARK: Registration

    /// Serves `pool`'s endpoint and keeps it registered: the endpoint is made again when its
    /// socket disappears (a restarting kubelet deletes it), and registered again whenever
    /// `kubelet.sock` is a new socket.
    private func keepRegistered(_ pool: KubeletPool) async {
        let path = configuration.endpointPath(pool)
        var log = StateLog(logger: logger)
        var endpoint: Endpoint?
        var registeredWith: SocketIdentity?
        while !Task.isCancelled {
            if let running = endpoint, SocketIdentity(path) != running.identity {
                await running.stop()
                endpoint = nil
                registeredWith = nil
            }
            if endpoint == nil {
                do {
                    endpoint = try await Endpoint.start(at: path, service: DevicePluginService(plugin: self, pool: pool))
                } catch {
                    log.report("listen", "kubelet: cannot serve \(pool.resourceName) at \(path): \(error); trying again each second")
                }
            }
            if let kubelet = SocketIdentity(configuration.kubeletSocket) {
                if endpoint != nil && registeredWith != kubelet {
                    do {
                        try await register(pool)
                        registeredWith = kubelet
                        log.report("registered", "kubelet: registered \(pool.resourceName) (endpoint \(pool.endpoint), \(configuration.slotsPerPool) slots)", level: .notice, always: true)
                    } catch {
                        log.report("register", "kubelet: registering \(pool.resourceName) at \(configuration.kubeletSocket) failed: \(error); trying again each second")
                    }
                }
            } else {
                registeredWith = nil
                log.report("absent", "kubelet: no kubelet at \(configuration.kubeletSocket); waiting for it to register \(pool.resourceName)", level: .notice)
            }
            try? await Task.sleep(for: .seconds(1))
        }
        await endpoint?.stop()
    }

    private func register(_ pool: KubeletPool) async throws {
        var request = V1beta1_RegisterRequest()
        request.version = "v1beta1"
        request.endpoint = pool.endpoint
        request.resourceName = pool.resourceName
        request.options = devicePluginOptions
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: configuration.kubeletSocket), transportSecurity: .plaintext)
        try await withGRPCClient(transport: transport) { client in
            _ = try await V1beta1_Registration.Client(wrapping: client).register(request, options: Self.callOptions)
        }
    }

    /// Neither PreStartContainer nor GetPreferredAllocation needs calling: every slot is alike.
    var devicePluginOptions: V1beta1_DevicePluginOptions {
        var options = V1beta1_DevicePluginOptions()
        options.preStartRequired = false
        options.getPreferredAllocationAvailable = false
        return options
    }

    /// Calls to the kubelet give up after 5 s rather than hang a loop.
    static var callOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(5)
        return options
    }

    // MARK: Releases

    /// Every poll interval: the slots no pod holds any more have their leases released.
    private func pollPodResources() async {
        var log = StateLog(logger: logger)
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.pollInterval)
            if Task.isCancelled { return }
            let listedAt = Date()
            let pods: [SlotBook.PodDevices]
            do {
                pods = try await listPodResources()
                log.report("ok", "kubelet: PodResources answers again", level: .info, quietFirst: true)
            } catch {
                // Without an answer nothing is released: a slot is freed only when known to be unheld.
                log.report("failed", "kubelet: PodResources at \(configuration.podResourcesSocket) did not answer: \(error); nothing is released until it does")
                continue
            }
            let grace = configuration.pollInterval / .seconds(1)
            let unheld = state.withLock { $0.book.unheld(by: SlotBook.held(in: pods), listedAt: listedAt, grace: grace) }
            for (slot, lease) in unheld {
                logger.info("kubelet: slot \(slot) is held by no pod any more: releasing lease \(lease)")
                if await release(lease) { freeSlot(slot) }
            }
        }
    }

    private func listPodResources() async throws -> [SlotBook.PodDevices] {
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: configuration.podResourcesSocket), transportSecurity: .plaintext)
        let answer = try await withGRPCClient(transport: transport) { client in
            try await V1_PodResourcesLister.Client(wrapping: client).list(V1_ListPodResourcesRequest(), options: Self.callOptions)
        }
        return answer.podResources.flatMap(\.containers).flatMap(\.devices).map {
            SlotBook.PodDevices(resourceName: $0.resourceName, deviceIDs: $0.deviceIds)
        }
    }

    /// Releases a lease; true when it is gone (released now, or already), false when it must be
    /// tried again (busy with another request).
    @discardableResult
    private func release(_ id: FractalID) async -> Bool {
        do {
            try await runBlocking { [manager] in _ = try manager.release(id) }
            return true
        } catch LeaseError.notFound {
            return true
        } catch LeaseError.busy(let id, let operation) {
            logger.notice("kubelet: lease \(id) is busy (\(operation.rawValue)); its release is tried again at the next poll")
            return false
        } catch {
            // Left as release-failed with its reason; the lease manager owns it from here.
            logger.error("kubelet: releasing lease \(id): \(error)")
            return true
        }
    }

    private func freeSlot(_ slot: KubeletSlot) {
        state.withLock { state in
            state.book.free(slot)
            publish(&state)
        }
    }

    // MARK: Allocate

    /// One lease per slot, or none: a failure releases what this call made and frees its slots.
    func allocate(_ request: V1beta1_AllocateRequest, in pool: KubeletPool) async throws -> V1beta1_AllocateResponse {
        let slots: [KubeletSlot]
        do {
            slots = try state.withLock { state throws(SlotBook.Refusal) in try state.book.reserve(request.containerRequests.map(\.devicesIds), in: pool) }
        } catch {
            logger.warning("kubelet: Allocate of \(pool.resourceName) refused: \(error)")
            switch error {
            case .taken: throw RPCError(code: .failedPrecondition, message: error.description)
            default: throw RPCError(code: .invalidArgument, message: error.description)
            }
        }
        var made: [Lease] = []
        for slot in slots {
            do {
                made.append(try await manager.createInTurn(LeaseRequest(devices: pool.devices, note: slot.leaseNote)))
            } catch {
                for lease in made { await release(lease.id) }
                state.withLock { state in
                    for slot in slots { state.book.free(slot) }
                    publish(&state)
                }
                logger.error("kubelet: Allocate of slot \(slot) failed: \(error)")
                switch error {
                case .limitReached, .queueFull:
                    throw RPCError(code: .resourceExhausted, message: "slot \(slot): \(error)")
                default:
                    throw RPCError(code: .internalError, message: "slot \(slot): \(error)")
                }
            }
        }
        let now = Date()
        state.withLock { state in
            for (slot, lease) in zip(slots, made) { state.book.allocate(slot, lease: lease.id, at: now) }
            publish(&state)
        }
        for (slot, lease) in zip(slots, made) { logger.info("kubelet: slot \(slot) allocated: lease \(lease.id)") }
        var response = V1beta1_AllocateResponse()
        response.containerResponses = made.map { Self.containerResponse(for: $0, cdiName: configuration.cdiNames) }
        return response
    }

    /// What one container gets for `lease`: the CDI name, and for kubelets and runtimes without
    /// CDI the same nodes, mounts and environment spelled out (CDI's edits replace those with
    /// the same container path, and the variables are equal, so both together do no harm).
    static func containerResponse(for lease: Lease, cdiName: Bool) -> V1beta1_ContainerAllocateResponse {
        let grant = ContainerGrant(lease: lease)
        var response = V1beta1_ContainerAllocateResponse()
        if cdiName {
            var cdi = V1beta1_CDIDevice()
            cdi.name = CDISpec.qualifiedName(of: lease.id)
            response.cdiDevices = [cdi]
        }
        response.devices = grant.presentNodes.map { node in
            var device = V1beta1_DeviceSpec()
            // The kubelet records this answer and replays it when it restarts the container, maybe
            // after the lease's devices were made again: `eventN` could be another lease's node by
            // then; the udev rules' link is this lease's device or nothing (runtimes resolve it).
            // Rules older than this daemon may lack a node's link: then its path, as before.
            device.hostPath = node.stableLink.flatMap { access($0, F_OK) == 0 ? $0 : nil } ?? node.hostPath
            device.containerPath = node.containerPath
            device.permissions = ContainerGrant.Node.permissions
            return device
        }
        response.mounts = grant.mounts.map { mount in
            var spec = V1beta1_Mount()
            spec.hostPath = mount.hostPath
            spec.containerPath = mount.containerPath
            spec.readOnly = mount.readOnly
            return spec
        }
        response.envs = Dictionary(grant.environment.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        response.annotations = grant.labels
        return response
    }

    // MARK: ListAndWatch and health

    /// A stream of `pool`'s device lists: the current one at once, then each change.
    func watch(_ pool: KubeletPool) -> (stream: AsyncStream<[V1beta1_Device]>, id: Int) {
        let (stream, continuation) = AsyncStream.makeStream(of: [V1beta1_Device].self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[pool, default: [:]][id] = continuation
            continuation.yield(Self.devices(of: pool, in: state))
            return id
        }
        return (stream, id)
    }

    func unwatch(_ pool: KubeletPool, id: Int) {
        state.withLock { _ = $0.watchers[pool]?.removeValue(forKey: id) }
    }

    private static func devices(of pool: KubeletPool, in state: State) -> [V1beta1_Device] {
        state.book.devices(pool, health: state.health).map { slot, usable in
            var device = V1beta1_Device()
            device.id = slot.deviceID
            device.health = usable ? healthy : unhealthy
            return device
        }
    }

    /// Sends each pool's list to its watchers if it changed.
    private func publish(_ state: inout State) {
        for pool in configuration.pools {
            let devices = Self.devices(of: pool, in: state)
            guard state.sent[pool] != devices else { continue }
            state.sent[pool] = devices
            for continuation in state.watchers[pool]?.values ?? [:].values { continuation.yield(devices) }
        }
    }

    /// Each second: whether the host can make sessions (uinput usable, the lease limit not reached).
    private func followHealth() async {
        while !Task.isCancelled {
            let health = currentHealth()
            let changed = state.withLock { state -> Bool in
                guard state.health != health else { return false }
                state.health = health
                publish(&state)
                return true
            }
            if changed { logger.notice("kubelet: host health: \(health)") }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func currentHealth() -> PoolHealth {
        let path = manager.configuration.uinputPath
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .noUInput("cannot open \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        let limit = manager.configuration.maximumLeases
        return manager.counts.leases >= limit ? .atLeaseLimit(limit) : .healthy
    }
}

/// Logs a loop's state once per change instead of once per iteration.
struct StateLog {
    let logger: Logger
    private var current: String?

    init(logger: Logger) {
        self.logger = logger
    }

    /// `state`: what the loop is in; the message is logged when it differs from the last one's,
    /// or every time with `always`. `quietFirst`: not logged when it is the first state seen.
    mutating func report(_ state: String, _ message: @autoclosure () -> String, level: Logger.Level = .warning, always: Bool = false, quietFirst: Bool = false) {
        defer { current = state }
        guard always || current != state else { return }
        if quietFirst && current == nil { return }
        logger.log(level: level, "\(message())")
    }
}
