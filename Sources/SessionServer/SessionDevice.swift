import DeviceManager

/// A lease as the session server serves it.
public struct SessionLease: Sendable {
    /// One device, at its index in the manifest.
    public struct Device: Sendable {
        public var role: DeviceRole
        /// How the lease names it (`gamepad-2`).
        public var handle: DeviceHandle
        /// A game controller's player number in the lease (1 for the first).
        public var player: Int?
        public var name: String
        public var nodes: [LeasedNode]
        public var device: any SessionDevice
        /// An unplugged hot-plug slot keeps its index (so plugging never renumbers devices under
        /// connected clients) but takes no events and hands off no fd until it is plugged.
        public var plugged: Bool

        public init(
            role: DeviceRole, handle: DeviceHandle? = nil, player: Int? = nil, name: String, nodes: [LeasedNode],
            device: any SessionDevice, plugged: Bool = true
        ) {
            self.role = role
            self.handle = handle ?? DeviceHandle(role)
            self.player = player
            self.name = name
            self.nodes = nodes
            self.device = device
            self.plugged = plugged
        }
    }

    public var id: FractalID
    public var policy: InputPolicy
    /// Where the listening socket goes; its directory must exist.
    public var socketPath: String
    /// In manifest order: the index is what EVENTS and notifications name.
    public var devices: [Device]

    public init(id: FractalID, policy: InputPolicy, socketPath: String, devices: [Device]) {
        self.id = id
        self.policy = policy
        self.socketPath = socketPath
        self.devices = devices
    }
}

extension SessionLease {
    /// The session a lease's socket serves: its devices (unplugged slots included, marked), in
    /// the lease's order, found by `device`; nil when the lease has no session directory.
    public init?(_ lease: Lease, device: (DeviceHandle) -> (any SessionDevice)?) {
        guard let session = lease.session else { return nil }
        let devices = lease.devices.compactMap { leased -> Device? in
            guard let found = device(leased.handle) else { return nil }
            return Device(
                role: leased.role, handle: leased.handle, player: lease.player(of: leased.handle), name: leased.name,
                nodes: leased.nodes, device: found, plugged: leased.plugged)
        }
        self.init(id: lease.id, policy: lease.policy, socketPath: session.socketPath, devices: devices)
    }
}
