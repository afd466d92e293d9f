import DeviceManager
import Foundation

/// Which slots hold which lease: the plugin's bookkeeping, as pure logic (no I/O, no clock).
///
/// A slot is free, reserved (an Allocate is making its lease) or allocated (its lease exists).
/// Slots past `slotsPerPool` are never advertised, but one can still be allocated after a
/// restart with fewer slots, until its pod ends.
public struct SlotBook: Sendable, Equatable {
    /// A slot's lease and when it was allocated (the lease's creation time after a restart).
    public struct Allocation: Sendable, Equatable {
        public var lease: FractalID
        public var since: Date

        public init(lease: FractalID, since: Date) {
            self.lease = lease
            self.since = since
        }
    }

    /// Why an Allocate was refused: each names the device ID.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not `<pool>-<n>` with `n` below the pool's slot count.
        case unknown(deviceID: String, resourceName: String, slots: Int)
        /// Already allocated (or being allocated) to a container.
        case taken(deviceID: String, lease: FractalID?)
        /// Asked for twice in one request.
        case repeated(deviceID: String)
        /// A container asked for more than one slot: each slot is a whole session (its own
        /// FRACTAL_ID, session socket and udev view), which a container cannot hold twice.
        case severalInOneContainer(deviceIDs: [String], resourceName: String)
        /// A container asked for no slot.
        case emptyContainerRequest

        public var description: String {
            switch self {
            case .unknown(let id, let resource, let slots):
                let known = slots == 0 ? "none" : "\(KubeletPool.named(resource: resource)?.name ?? "?")-0 to -\(slots - 1)"
                return "device ID '\(id)' is not a slot of \(resource) (slots: \(known))"
            case .taken(let id, let lease):
                return "slot \(id) is already allocated" + (lease.map { " (lease \($0))" } ?? " (its lease is being made)")
            case .repeated(let id):
                return "slot \(id) is asked for twice in one Allocate"
            case .severalInOneContainer(let ids, let resource):
                return "a container takes one \(resource) slot, not \(ids.count) (\(ids.joined(separator: ", "))): each slot is a whole session with its own FRACTAL_ID and session socket"
            case .emptyContainerRequest:
                return "a container request names no device ID"
            }
        }
    }

    public let slotsPerPool: Int
    public private(set) var allocations: [KubeletSlot: Allocation] = [:]
    /// Slots whose lease an Allocate is making now.
    public private(set) var reserved: Set<KubeletSlot> = []

    public init(slotsPerPool: Int) {
        self.slotsPerPool = max(0, slotsPerPool)
    }

    /// The slots of `pool` the kubelet is told of, in order.
    public func advertised(_ pool: KubeletPool) -> [KubeletSlot] {
        (0..<slotsPerPool).map { KubeletSlot(pool: pool, index: $0) }
    }

    public func isFree(_ slot: KubeletSlot) -> Bool {
        allocations[slot] == nil && !reserved.contains(slot)
    }

    /// Checks one Allocate of `pool` (one list of device IDs per container) and reserves every
    /// slot in it, or reserves none and says why.
    public mutating func reserve(_ containers: [[String]], in pool: KubeletPool) throws(Refusal) -> [KubeletSlot] {
        var slots: [KubeletSlot] = []
        for ids in containers {
            guard !ids.isEmpty else { throw .emptyContainerRequest }
            guard ids.count == 1 else { throw .severalInOneContainer(deviceIDs: ids, resourceName: pool.resourceName) }
            for id in ids {
                guard let slot = KubeletSlot(id, in: pool), slot.index < slotsPerPool else {
                    throw .unknown(deviceID: id, resourceName: pool.resourceName, slots: slotsPerPool)
                }
                guard !slots.contains(slot) else { throw .repeated(deviceID: id) }
                guard isFree(slot) else { throw .taken(deviceID: id, lease: allocations[slot]?.lease) }
                slots.append(slot)
            }
        }
        reserved.formUnion(slots)
        return slots
    }

    /// A reserved slot's lease is made.
    public mutating func allocate(_ slot: KubeletSlot, lease: FractalID, at time: Date) {
        reserved.remove(slot)
        allocations[slot] = Allocation(lease: lease, since: time)
    }

    /// A slot is free again: its lease failed, was released, or never was.
    public mutating func free(_ slot: KubeletSlot) {
        reserved.remove(slot)
        allocations.removeValue(forKey: slot)
    }

    /// The allocated slots no pod holds any more, with their leases: what a poll releases.
    /// `listedAt`: when the PodResources answer was asked for; a slot allocated less than
    /// `grace` before it is kept, since the kubelet lists a pod only after its Allocate returned.
    public func unheld(by held: Set<KubeletSlot>, listedAt: Date, grace: TimeInterval) -> [(slot: KubeletSlot, lease: FractalID)] {
        allocations
            .filter { slot, allocation in !held.contains(slot) && allocation.since.addingTimeInterval(grace) <= listedAt }
            .map { (slot: $0.key, lease: $0.value.lease) }
            .sorted { $0.slot < $1.slot }
    }

    /// The slots of our pools that PodResources says some container holds.
    public static func held(in pods: [PodDevices]) -> Set<KubeletSlot> {
        var held = Set<KubeletSlot>()
        for entry in pods {
            guard let pool = KubeletPool.named(resource: entry.resourceName) else { continue }
            for id in entry.deviceIDs {
                if let slot = KubeletSlot(id, in: pool) { held.insert(slot) }
            }
        }
        return held
    }

    /// One container's devices of one resource, as PodResources lists them.
    public struct PodDevices: Sendable, Equatable {
        public var resourceName: String
        public var deviceIDs: [String]

        public init(resourceName: String, deviceIDs: [String]) {
            self.resourceName = resourceName
            self.deviceIDs = deviceIDs
        }
    }

    /// What start-up does with the leases an earlier run of the plugin left.
    public struct ReconcilePlan: Sendable, Equatable {
        /// Held by a pod and live: allocated again as they are.
        public var keep: [KubeletSlot: Allocation] = [:]
        /// Held by a pod but their devices ended with the previous process: released and made
        /// again under the same FractalID, so the CDI name the kubelet recorded stays good.
        public var remake: [KubeletSlot: FractalID] = [:]
        /// Held by no pod, or a second lease for a slot another one holds: released.
        public var release: [FractalID] = []

        public init() {}
    }

    /// Decides, from one PodResources answer, which of the plugin's earlier leases to keep.
    /// Leases being released or whose release failed are left to the release machinery.
    public static func reconcile(_ leases: [Lease], held: Set<KubeletSlot>) -> ReconcilePlan {
        var plan = ReconcilePlan()
        // Oldest first: when two leases claim a slot, the one the kubelet was answered with first stays.
        for lease in leases.sorted(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }) {
            guard let slot = KubeletSlot.of(lease) else { continue }
            let claimed = plan.keep[slot] != nil || plan.remake[slot] != nil
            switch lease.state {
            case .active where held.contains(slot) && !claimed:
                plan.keep[slot] = Allocation(lease: lease.id, since: lease.createdAt)
            case .devicesLost where held.contains(slot) && !claimed:
                plan.remake[slot] = lease.id
            case .active, .devicesLost:
                plan.release.append(lease.id)
            case .creating, .releasing, .releaseFailed:
                // Undone or being released by the lease manager itself.
                continue
            }
        }
        return plan
    }

    /// What ListAndWatch reports for `pool`: each advertised slot and whether it is healthy.
    public func devices(_ pool: KubeletPool, health: PoolHealth) -> [(slot: KubeletSlot, healthy: Bool)] {
        advertised(pool).map { slot in
            switch health {
            case .healthy: (slot, true)
            case .noUInput: (slot, false)
            // A slot with a lease keeps it; only new sessions cannot be made.
            case .atLeaseLimit: (slot, !isFree(slot))
            }
        }
    }

    /// GetPreferredAllocation: the first `size` of `available`, those that must be included
    /// first, each once, in the kubelet's order otherwise.
    public static func preferred(available: [String], mustInclude: [String], size: Int) -> [String] {
        var chosen: [String] = []
        for id in mustInclude + available where chosen.count < max(0, size) && !chosen.contains(id) {
            chosen.append(id)
        }
        return chosen
    }
}

/// Whether the host can make a pool's sessions now.
public enum PoolHealth: Sendable, Equatable, CustomStringConvertible {
    case healthy
    /// uinput is missing or cannot be opened: no slot can be served.
    case noUInput(String)
    /// Live leases reached `--max-leases`: free slots cannot be served until one is released.
    case atLeaseLimit(Int)

    public var description: String {
        switch self {
        case .healthy: "healthy"
        case .noUInput(let reason): "uinput unusable: \(reason)"
        case .atLeaseLimit(let limit): "at the lease limit (\(limit))"
        }
    }
}
