import Foundation
import Logging
import Synchronization

/// Makes, tracks and releases leases: a FractalID's devices and directories.
///
/// The manager owns every live `UInputDevice` (a uinput device lives exactly as long as the fd
/// that made it), so exactly one manager runs per host: the `fractal-agent` daemon.
/// Calls block (device creation, udev, mounts): run them off the cooperative thread pool.
public final class LeaseManager: Sendable {
    /// What the manager needs from its host.
    public struct Configuration: Sendable {
        /// Where the durable state lives.
        public var stateDirectory: String
        /// Roots under which lease directories may be made.
        public var allowedRoots: [String]
        /// Live leases at most; the kernel has at most 1024 input minors, and a lease takes 3 to 8.
        public var maximumLeases: Int
        /// How long to wait for udevd to finish with a lease's devices.
        public var udevTimeout: Duration
        /// Where uinput is.
        public var uinputPath: String
        /// Where each lease's session directory (socket, udev view) is made; none when nil.
        public var sessionRoot: String?

        public init(
            stateDirectory: String, allowedRoots: [String], maximumLeases: Int = 128,
            udevTimeout: Duration = .seconds(10), uinputPath: String = "/dev/uinput", sessionRoot: String? = nil
        ) {
            self.stateDirectory = stateDirectory
            self.allowedRoots = allowedRoots
            self.maximumLeases = maximumLeases
            self.udevTimeout = udevTimeout
            self.uinputPath = uinputPath
            self.sessionRoot = sessionRoot
        }
    }

    /// A lease whose devices this process owns.
    private struct LiveLease {
        var lease: Lease
        var devices: [DeviceRole: UInputDevice]
    }

    private struct State {
        var live: [FractalID: LiveLease] = [:]
        /// IDs being created or released right now, so concurrent requests for one ID don't race.
        var busy: [FractalID: LeaseOperation] = [:]
        /// Leases from before this process whose devices are gone; directories still in place.
        var lost: [FractalID: Lease] = [:]
        /// Leases being released: still reported (as `releasing`) until nothing of them is left.
        var releasing: [FractalID: Lease] = [:]
    }

    /// What observers are told, synchronously, on the thread that made the change.
    public enum Change: Sendable {
        /// The lease is active: its devices are live and udev is done with them.
        case created(Lease)
        /// The lease's devices changed (plugged or unplugged); the lease as it is now.
        case changed(Lease)
        /// The lease is being released; its devices are still open and close after this returns.
        case releasing(Lease)
    }

    public let configuration: Configuration
    private let observers = Mutex<[@Sendable (Change) -> Void]>([])
    private let store: LeaseStore
    private let provisioner: DirectoryProvisioner
    private let state = Mutex(State())
    private let logger: Logger

    /// Opens the state store; call `reconcile()` before serving requests.
    public init(configuration: Configuration, logger: Logger = Logger(label: "fractal.leases")) throws(LeaseError) {
        self.configuration = configuration
        self.logger = logger
        do {
            try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .store(operation: "create the state directory", path: configuration.stateDirectory, message: "\(error)")
        }
        store = try LeaseStore(directory: configuration.stateDirectory)
        if let root = configuration.sessionRoot {
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                // Only root reaches the session sockets from the host; containers get their own by bind mount.
                guard chmod(root, 0o700) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            } catch {
                throw .store(operation: "create the session root", path: root, message: "\(error)")
            }
        }
        do {
            provisioner = try DirectoryProvisioner(allowedRoots: configuration.allowedRoots)
        } catch {
            throw .directory(template: configuration.allowedRoots.joined(separator: ", "), error)
        }
    }

    // MARK: Start-up

    /// What start-up found and did, for the log and the operator.
    public struct ReconcileReport: Sendable, CustomStringConvertible {
        /// Leases whose devices died with the previous process; kept, marked `devices-lost`.
        public var devicesLost: [FractalID] = []
        /// Leases interrupted while being made or released; their directories and mounts were removed.
        public var undone: [FractalID] = []
        public var problems: [String] = []

        public var description: String {
            "reconcile: \(devicesLost.count) lease(s) lost their devices with the previous process, \(undone.count) interrupted lease(s) undone"
                + (problems.isEmpty ? "" : "; problems: " + problems.joined(separator: "; "))
        }
    }

    /// Brings the stored state in line with the host after a (possibly unclean) stop.
    ///
    /// uinput devices die with the process that made them, so every lease stored as `active` lost
    /// its devices: it is marked so and kept, since a container may still use its directories.
    /// A lease stored as `creating` or `releasing` was interrupted: its mounts and directories are
    /// removed and it is forgotten.
    @discardableResult
    public func reconcile() throws(LeaseError) -> ReconcileReport {
        var report = ReconcileReport()
        for var lease in try store.all() {
            switch lease.state {
            case .active, .devicesLost:
                if lease.state == .active {
                    lease.state = .devicesLost
                    try store.update(lease)
                    report.devicesLost.append(lease.id)
                    logger.warning("lease \(lease.id) lost its devices with the previous process; its directories are kept until it is released")
                }
                state.withLock { $0.lost[lease.id] = lease }
            case .creating, .releasing:
                report.problems += releaseDirectories(of: lease, keep: false, includingPlanned: true)
                removeSession(of: lease.id)
                try store.delete(lease.id)
                report.undone.append(lease.id)
                logger.warning("lease \(lease.id) was interrupted while \(lease.state.rawValue); its directories and mounts were removed")
            }
        }
        report.problems += removeStraySessions()
        return report
    }

    /// Removes session directories no stored lease owns (left by a crash between their making and the record).
    private func removeStraySessions() -> [String] {
        guard let root = configuration.sessionRoot,
              let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        let known = state.withLock { Set($0.lost.keys.map(\.rawValue)) }
        var problems: [String] = []
        for name in names where !known.contains(name) {
            do { try FileManager.default.removeItem(atPath: root + "/" + name) } catch { problems.append("remove stray session \(name): \(error)") }
        }
        return problems
    }

    private func removeSession(of id: FractalID) {
        guard let root = configuration.sessionRoot else { return }
        let paths = SessionPaths(root: root, id: id)
        if FileManager.default.fileExists(atPath: paths.directory) {
            do { try FileManager.default.removeItem(atPath: paths.directory) } catch {
                logger.warning("lease \(id): removing its session directory \(paths.directory): \(error)")
            }
        }
    }

    /// Makes `<session root>/<id>/{socket,udev}`, readable by the container's users.
    private func makeSession(for id: FractalID) throws(LeaseError) -> SessionPaths? {
        guard let root = configuration.sessionRoot else { return nil }
        let paths = SessionPaths(root: root, id: id)
        for path in [paths.directory, paths.socketDirectory, paths.udevDirectory] {
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
                throw .store(operation: "create the session directory", path: path, message: String(cString: strerror(errno)))
            }
            // mkdir's mode is cut by the umask.
            chmod(path, 0o755)
        }
        return paths
    }

    // MARK: Observers

    /// `observer` hears of every lease made, changed and released from now on.
    public func addObserver(_ observer: @escaping @Sendable (Change) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    private func notify(_ change: Change) {
        for observer in observers.withLock({ $0 }) { observer(change) }
    }

    // MARK: Queries

    /// Every lease, live or lost, sorted by creation time.
    public func leases() -> [Lease] {
        state.withLock { state in
            Array(state.live.values.map(\.lease)) + Array(state.lost.values) + Array(state.releasing.values)
        }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func lease(_ id: FractalID) throws(LeaseError) -> Lease {
        let found = state.withLock { state in state.live[id]?.lease ?? state.lost[id] ?? state.releasing[id] }
        guard let found else { throw .notFound(id) }
        return found
    }

    /// Live leases and their devices, for metrics.
    public var counts: (leases: Int, devices: Int, lost: Int) {
        state.withLock { state in
            (state.live.count, state.live.values.reduce(0) { $0 + $1.devices.count }, state.lost.count)
        }
    }

    // MARK: Create

    /// Makes a lease: records it, provisions its directories, creates its devices, waits for udev.
    /// Any failure undoes everything done so far before the error is thrown.
    public func create(_ request: LeaseRequest) throws(LeaseError) -> Lease {
        guard !(request.devices.isEmpty && request.directories.isEmpty) else { throw .empty }
        var seen = Set<DeviceRole>()
        for role in request.devices + request.hotplug where !seen.insert(role).inserted { throw .duplicateRole(role) }
        let id = request.id ?? FractalID.random()

        try reserve(id)
        var lease = Lease(id: id, state: .creating, owner: request.owner, note: request.note, policy: request.policy)
        // Paths that do not resolve are refused by provision() below, with the reason.
        lease.plannedDirectories = request.directories.compactMap { try? provisioner.path(for: $0.template, id: id) }
        do {
            try store.insert(lease)
        } catch {
            state.withLock { _ = $0.busy.removeValue(forKey: id) }
            throw error
        }

        var devices: [DeviceRole: UInputDevice] = [:]
        func undo() {
            for device in devices.values { device.close() }
            _ = releaseDirectories(of: lease, keep: false, includingPlanned: false)
            removeSession(of: id)
            try? store.delete(id)
            state.withLock { _ = $0.busy.removeValue(forKey: id) }
        }

        do throws(LeaseError) {
            lease.session = try makeSession(for: id)
            for request in request.directories {
                do {
                    lease.directories.append(try provisioner.provision(request, for: id))
                } catch {
                    throw LeaseError.directory(template: request.template, error)
                }
                try store.update(lease)
            }

            let roles = request.devices.map { ($0, true) } + request.hotplug.map { ($0, false) }
            let made = try makeDevices(roles, id: id) { devices[$0] = $1 }
            lease.devices = made.devices
            lease.udev = made.udev

            lease.state = .active
            try store.update(lease)
        } catch {
            undo()
            throw error
        }

        let created = lease
        state.withLock { state in
            state.busy.removeValue(forKey: id)
            state.live[id] = LiveLease(lease: created, devices: devices)
        }
        notify(.created(created))
        return created
    }

    /// Creates devices for `roles` (with whether each starts plugged) and waits for udev; `created`
    /// hears of each device as soon as it exists, so the caller can undo them on a failure.
    private func makeDevices(
        _ roles: [(DeviceRole, Bool)], id: FractalID, created: (DeviceRole, UInputDevice) -> Void
    ) throws(LeaseError) -> (devices: [LeasedDevice], udev: UdevReadiness?) {
        let watcher = UdevWatcher.isRunning ? try UdevWatcher() : nil
        var made: [UInputDevice] = []
        var leased: [LeasedDevice] = []
        for (role, plugged) in roles {
            do {
                let device = try UInputDevice(
                    profile: .forRole(role), phys: DevicePhys.make(id: id, role: role), uinputPath: configuration.uinputPath)
                created(role, device)
                made.append(device)
                leased.append(LeasedDevice(
                    role: role, name: device.profile.name, phys: device.phys, sysname: device.sysname,
                    nodes: device.nodes.map(LeasedNode.init), plugged: plugged))
            } catch {
                throw LeaseError.device(role, error)
            }
        }
        guard !made.isEmpty else { return ([], nil) }
        guard let watcher else {
            logger.notice("no udevd runs on this host (/run/udev/control is missing): lease \(id) is handed out without udev rules having run")
            return (leased, .notRunning)
        }
        let syspaths = made.flatMap { device in [device.syspath] + device.nodes.map { device.syspath + "/" + $0.name } }
        try watcher.waitUntilInitialized(syspaths, id: id, timeout: configuration.udevTimeout)
        for index in leased.indices {
            let link = "/dev/input/by-fractal-id/\(id.rawValue)/\(leased[index].role.rawValue)"
            if FileManager.default.fileExists(atPath: link) { leased[index].stableLink = link }
        }
        return (leased, .initialized)
    }

    private func reserve(_ id: FractalID) throws(LeaseError) {
        let outcome: LeaseError? = state.withLock { state in
            if state.live[id] != nil || state.lost[id] != nil { return .duplicate(id) }
            if state.busy[id] != nil { return .duplicate(id) }
            if state.live.count + state.busy.count >= configuration.maximumLeases {
                return .limitReached(limit: configuration.maximumLeases)
            }
            state.busy[id] = .creating
            return nil
        }
        if let outcome { throw outcome }
    }

    // MARK: Hot-plug

    /// Plugs `role` into the running session: an unplugged device of the lease is plugged; with
    /// `creatingIfMissing`, a role the lease lacks is created (only when no container holds fixed
    /// device grants for the lease: the caller knows). Observers hear `.changed`.
    public func plug(_ id: FractalID, role: DeviceRole, creatingIfMissing: Bool) throws(LeaseError) -> Lease {
        let current = try beginChange(id)
        defer { endChange(id) }
        var lease = current.lease
        var added: UInputDevice?
        if let index = lease.devices.firstIndex(where: { $0.role == role }) {
            guard !lease.devices[index].plugged else { throw .alreadyPlugged(role, lease: id) }
            lease.devices[index].plugged = true
        } else {
            guard creatingIfMissing else { throw .notProvisioned(role, lease: id) }
            do throws(LeaseError) {
                let made = try makeDevices([(role, true)], id: id) { _, device in added = device }
                lease.devices += made.devices
            } catch {
                added?.close()
                throw error
            }
        }
        do { try store.update(lease) } catch {
            added?.close()
            throw error
        }
        let changed = lease
        state.withLock { state in
            state.live[id]?.lease = changed
            if let added { state.live[id]?.devices[role] = added }
        }
        notify(.changed(changed))
        return changed
    }

    /// Unplugs `role` from the running session: every key it holds is released, and with
    /// `destroying` the device is destroyed and leaves the lease; otherwise it stays, unplugged,
    /// for a later plug (its node numbers stay granted to the lease's containers).
    public func unplug(_ id: FractalID, role: DeviceRole, destroying: Bool) throws(LeaseError) -> Lease {
        let current = try beginChange(id)
        defer { endChange(id) }
        var lease = current.lease
        guard let index = lease.devices.firstIndex(where: { $0.role == role }), let device = current.devices[role] else {
            throw .unknownRole(role.rawValue, lease: id)
        }
        guard lease.devices[index].plugged else { throw .notPlugged(role, lease: id) }
        if destroying { lease.devices.remove(at: index) } else { lease.devices[index].plugged = false }
        try store.update(lease)
        let changed = lease
        // Observers withdraw the device from the session before it goes quiet or away.
        state.withLock { $0.live[id]?.lease = changed }
        notify(.changed(changed))
        if destroying {
            state.withLock { _ = $0.live[id]?.devices.removeValue(forKey: role) }
            device.close()
        } else {
            try? device.releaseEverythingHeld()
        }
        return changed
    }

    /// Marks a live lease busy for a change of its devices; throws when it is not live or busy.
    private func beginChange(_ id: FractalID) throws(LeaseError) -> LiveLease {
        let outcome: Result<LiveLease, LeaseError> = state.withLock { state in
            if let busy = state.busy[id] { return .failure(.busy(id, busy)) }
            guard let live = state.live[id] else { return .failure(.notFound(id)) }
            state.busy[id] = .changingDevices
            return .success(live)
        }
        return try outcome.get()
    }

    private func endChange(_ id: FractalID) {
        state.withLock { _ = $0.busy.removeValue(forKey: id) }
    }

    // MARK: Release

    /// Destroys a lease's devices, unmounts and removes its directories (unless kept), forgets it.
    /// Releasing an ID that is not (or no longer) leased throws `.notFound` and changes nothing.
    @discardableResult
    public func release(_ id: FractalID, keepDirectories: Bool = false) throws(LeaseError) -> Lease {
        let taken: Result<(Lease, [UInputDevice]), LeaseError> = state.withLock { state in
            if let busy = state.busy[id] { return .failure(.busy(id, busy)) }
            var taken: (Lease, [UInputDevice])?
            if let live = state.live.removeValue(forKey: id) {
                taken = (live.lease, Array(live.devices.values))
            } else if let lost = state.lost.removeValue(forKey: id) {
                taken = (lost, [])
            }
            guard let (found, devices) = taken else { return .failure(.notFound(id)) }
            var lease = found
            lease.state = .releasing
            state.busy[id] = .releasing
            state.releasing[id] = lease
            return .success((lease, devices))
        }
        let (lease, devices) = try taken.get()
        defer {
            state.withLock { state in
                state.busy.removeValue(forKey: id)
                state.releasing.removeValue(forKey: id)
            }
        }

        var problems: [String] = []
        do { try store.update(lease) } catch { problems.append("\(error)") }
        notify(.releasing(lease))
        for device in devices { device.close() }
        problems += releaseDirectories(of: lease, keep: keepDirectories, includingPlanned: false)
        removeSession(of: id)
        do { try store.delete(id) } catch { problems.append("\(error)") }
        if !problems.isEmpty { throw .releaseIncomplete(id, problems: problems) }
        return lease
    }

    /// Releases every live lease (for a shutdown asked to release).
    public func releaseAll(keepDirectories: Bool = false) -> [String] {
        var problems: [String] = []
        for lease in leases() {
            do { try release(lease.id, keepDirectories: keepDirectories) } catch { problems.append("\(error)") }
        }
        return problems
    }

    /// Undoes a lease's directories; returns what could not be undone. With `includingPlanned`,
    /// also the directories the record planned but may not have recorded before a crash.
    private func releaseDirectories(of lease: Lease, keep: Bool, includingPlanned: Bool) -> [String] {
        var problems: [String] = []
        for directory in lease.directories.reversed() {
            do { try provisioner.release(directory, keep: keep ? true : nil) } catch { problems.append("\(error)") }
        }
        if includingPlanned {
            let recorded = Set(lease.directories.map(\.path))
            for path in lease.plannedDirectories where !recorded.contains(path) {
                do { try removeInterrupted(path: path, of: lease.id) } catch { problems.append("\(error)") }
            }
        }
        return problems
    }

    /// Removes a directory a killed process planned, and may have made and mounted, but had not
    /// recorded. The provisioner refuses to provision over an existing directory, so one found at
    /// a planned path was made by that process.
    private func removeInterrupted(path: String, of id: FractalID) throws(DirectoryError) {
        guard let root = provisioner.allowedRoots.first(where: { path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else { return }
        guard FileManager.default.fileExists(atPath: path) else { return }
        // Unmounting a directory that is not a mount point is a no-op for release().
        let directory = ProvisionedDirectory(
            id: id, path: path, root: root, createdIntermediates: [],
            mount: ProvisionedMount(kind: .tmpfs, target: path, source: nil), keep: false)
        try provisioner.release(directory)
    }

    // MARK: Events

    /// Writes a batch of events to one of a lease's devices with one `write(2)`.
    public func inject(_ id: FractalID, role: DeviceRole, events: [InputEvent]) throws(LeaseError) {
        let device: UInputDevice? = state.withLock { $0.live[id]?.devices[role] }
        guard let device else {
            if state.withLock({ $0.live[id] == nil }) { throw .notFound(id) }
            throw .unknownRole(role.rawValue, lease: id)
        }
        do { try device.write(events) } catch { throw .write(role, error) }
    }

    /// A live lease's device, for the session socket; nil when the lease or role is not live.
    public func device(_ id: FractalID, role: DeviceRole) -> UInputDevice? {
        state.withLock { $0.live[id]?.devices[role] }
    }

    /// Every live device, for the feedback pump.
    public func liveDevices() -> [(FractalID, DeviceRole, UInputDevice)] {
        state.withLock { state in
            state.live.flatMap { id, live in live.devices.map { (id, $0.key, $0.value) } }
        }
    }
}
