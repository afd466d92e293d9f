import DeviceManager

/// One schedulable session slot: the device ID the kubelet sees (`input-3`, `input-gamepad-0`).
public struct KubeletSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let pool: KubeletPool
    public let index: Int

    public init(pool: KubeletPool, index: Int) {
        self.pool = pool
        self.index = index
    }

    /// The slot a device ID names in `pool`, or nil when it is not of the form `<pool>-<n>`
    /// (`n` decimal without leading zeros, so each slot has exactly one spelling).
    public init?(_ deviceID: String, in pool: KubeletPool) {
        let prefix = pool.name + "-"
        guard deviceID.hasPrefix(prefix) else { return nil }
        let digits = deviceID.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              digits == "0" || !digits.hasPrefix("0"), let index = Int(digits)
        else { return nil }
        self.init(pool: pool, index: index)
    }

    /// The kubelet's device ID.
    public var deviceID: String { "\(pool.name)-\(index)" }
    public var description: String { deviceID }

    public static func < (a: KubeletSlot, b: KubeletSlot) -> Bool {
        (a.pool.name, a.index) < (b.pool.name, b.index)
    }

    /// The lease note that ties a lease to this slot across restarts: `kubelet <resource> <slot>`.
    public var leaseNote: String { "\(Self.notePrefix)\(pool.resourceName) \(deviceID)" }

    static let notePrefix = "kubelet "

    /// The slot a lease's note names, if it is a kubelet note of a known pool.
    public init?(leaseNote note: String) {
        guard note.hasPrefix(Self.notePrefix) else { return nil }
        let words = note.dropFirst(Self.notePrefix.count).split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 2, let pool = KubeletPool.named(resource: String(words[0])) else { return nil }
        self.init(String(words[1]), in: pool)
    }

    /// Whether `lease` is the plugin's for reconciling: a kubelet note and no owner. The API
    /// always records its caller as owner, so an API client cannot pass its lease off as a slot's.
    public static func of(_ lease: Lease) -> KubeletSlot? {
        guard lease.owner == nil, let note = lease.note else { return nil }
        return KubeletSlot(leaseNote: note)
    }
}
