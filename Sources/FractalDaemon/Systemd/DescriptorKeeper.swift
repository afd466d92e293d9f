import DeviceManager
import Logging
import SessionServer
import Synchronization

/// Keeps every live lease's device descriptors and session listener in systemd's
/// file-descriptor store, so they outlive this process: a restart, a crash or an upgrade finds
/// them passed back (`PassedDescriptors`) and adopts them. Follows the leases: stores what a lease
/// gains, removes what it loses (a destroyed hot-plug device, a released lease), so the store
/// never keeps a device alive that its lease let go.
final class DescriptorKeeper: Sendable {
    private let service: ServiceManager
    private let manager: LeaseManager
    private let sessions: SessionServer
    private let logger: Logger
    /// The names stored for each lease, with the descriptor each holds.
    private let stored = Mutex<[FractalID: [StoredDescriptorName: Int32]]>([:])

    init(service: ServiceManager, manager: LeaseManager, sessions: SessionServer, logger: Logger) {
        self.service = service
        self.manager = manager
        self.sessions = sessions
        self.logger = logger
    }

    /// Starts following the manager's leases; call after the session server follows them, so
    /// a new lease's listener exists when this hears of it.
    func follow() {
        guard service.isPresent else { return }
        manager.addObserver { [self] change in
            switch change {
            case .created(let lease): keep(lease, replacing: true)
            case .changed(let lease): keep(lease, replacing: false)
            case .releasing(let lease): forget(lease.id)
            }
        }
    }

    /// The store's entries for `lease` made to match what it holds now. `replacing` re-stores every
    /// entry (a lease just made or adopted: any entry under its names is stale or the same).
    private func keep(_ lease: Lease, replacing: Bool) {
        var wanted: [StoredDescriptorName: Int32] = [:]
        for device in lease.devices {
            if let fd = manager.device(lease.id, handle: device.handle)?.fileDescriptor { wanted[.device(lease.id, device.handle)] = fd }
        }
        if let listener = sessions.listenerDescriptor(of: lease.id) { wanted[.sessionListener(lease.id)] = listener }
        let before = stored.withLock { $0[lease.id] ?? [:] }
        for (name, fd) in before where wanted[name] != fd || replacing { service.removeStored(name) }
        for (name, fd) in wanted where before[name] != fd || replacing {
            let result = service.store(fd, as: name)
            if result < 0 {
                logger.error("lease \(lease.id): systemd did not take \(name) into its file-descriptor store (errno \(-result)); it will not outlive a restart")
            }
        }
        stored.withLock { $0[lease.id] = wanted }
    }

    private func forget(_ id: FractalID) {
        let names = stored.withLock { $0.removeValue(forKey: id) ?? [:] }
        for name in names.keys { service.removeStored(name) }
    }

    /// How many descriptors are stored now (for STATUS and the log).
    var count: Int {
        stored.withLock { $0.values.reduce(0) { $0 + $1.count } }
    }
}
