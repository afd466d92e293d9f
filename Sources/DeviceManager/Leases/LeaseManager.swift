import Foundation
import FractalSystem
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
        /// How long udevd may finish none of fractal-agent's devices before a lease waiting on it
        /// gives up (counted from the lease's turn in the admission queue).
        public var udevTimeout: Duration
        /// Lease creations (devices made, udev waited for) run at once; the rest wait in order.
        public var concurrentCreations: Int
        /// Lease creations that may wait for their turn; one more is refused (`.queueFull`).
        public var maximumQueuedCreations: Int
        /// Where uinput is.
        public var uinputPath: String
        /// Where uhid is (DualSense and Switch Pro pads).
        public var uhidPath: String = "/dev/uhid"
        /// Where each lease's session directory (socket, udev view) is made; none when nil.
        public var sessionRoot: String?
        /// The size and inode caps of a lease's tmpfs directories.
        public var directoryLimits: DirectoryLimits
        /// Where each active lease's CDI spec is written (`CDISpecDirectory`); none when nil.
        public var cdiDirectory: String?

        public init(
            stateDirectory: String, allowedRoots: [String], maximumLeases: Int = 128,
            udevTimeout: Duration = .seconds(10), uinputPath: String = "/dev/uinput", sessionRoot: String? = nil,
            directoryLimits: DirectoryLimits = DirectoryLimits(),
            concurrentCreations: Int = standardConcurrentCreations, maximumQueuedCreations: Int = standardMaximumQueuedCreations,
            cdiDirectory: String? = nil
        ) {
            self.cdiDirectory = cdiDirectory
            self.concurrentCreations = concurrentCreations
            self.maximumQueuedCreations = maximumQueuedCreations
            self.directoryLimits = directoryLimits
            self.stateDirectory = stateDirectory
            self.allowedRoots = allowedRoots
            self.maximumLeases = maximumLeases
            self.udevTimeout = udevTimeout
            self.uinputPath = uinputPath
            self.sessionRoot = sessionRoot
        }
    }

    /// Creations run at once by default: enough to keep udevd busy between one lease's devices and
    /// the next's. 50 requests at once with both CPUs busy, in the test VM, took 118 s to the last
    /// lease with 1, 67 s with 4, 48 s with 16 and 46 s with 64: past 16 the queue only bounds threads.
    public static let standardConcurrentCreations = 16

    /// Creations that may wait by default: a flood past it is refused at once (503), so it takes
    /// bounded memory; below the highest `--max-leases`, which queued requests count against too.
    public static let standardMaximumQueuedCreations = 512

    /// A lease whose devices this process owns.
    private struct LiveLease {
        var lease: Lease
        var devices: [DeviceHandle: any LeaseDevice]
    }

    private struct State {
        var live: [FractalID: LiveLease] = [:]
        /// IDs being created or released right now, so concurrent requests for one ID don't race.
        var busy: [FractalID: LeaseOperation] = [:]
        /// Leases from before this process whose devices are gone; directories still in place.
        var lost: [FractalID: Lease] = [:]
        /// Leases being released: still reported (as `releasing`) until nothing of them is left.
        var releasing: [FractalID: Lease] = [:]
        /// Leases whose release left something behind (`release-failed`): kept until a release removes it.
        var failed: [FractalID: Lease] = [:]
        /// The paths each lease being created planned, claimed before any is made.
        var planned: [FractalID: [String]] = [:]

        /// A lease other than `id` whose paths lie at, above or below one of `paths`, with that path.
        func claim(on paths: [String], except id: FractalID) -> (path: String, owner: FractalID)? {
            let held = live.values.map(\.lease) + Array(lost.values) + Array(releasing.values) + Array(failed.values)
            let claims = held.map { ($0.id, $0.claimedPaths) } + planned.map { ($0.key, $0.value) }
            return LeaseManager.overlap(of: paths, with: claims.filter { $0.0 != id })
        }
    }

    /// The first of `paths` at, above or below a path of one of `claims`, with its claimant.
    static func overlap(of paths: [String], with claims: [(FractalID, [String])]) -> (path: String, owner: FractalID)? {
        for path in paths {
            for (owner, held) in claims where held.contains(where: { overlaps(path, $0) }) { return (path, owner) }
        }
        return nil
    }

    /// Whether one normalized absolute path is the other or lies below it.
    private static func overlaps(_ a: String, _ b: String) -> Bool {
        a == b || a.hasPrefix(b.hasSuffix("/") ? b : b + "/") || b.hasPrefix(a.hasSuffix("/") ? a : a + "/")
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
    /// Orders `createInTurn`'s creations (the daemon's API and tasks).
    public let admissions: AdmissionQueue
    /// What our udev rules read to name each device by FractalID.
    private let udevProperties = UdevPropertyFiles()
    /// Where CDI engines find each active lease.
    private let cdi: CDISpecDirectory?

    /// Opens the state store; call `reconcile()` before serving requests.
    public init(configuration: Configuration, logger: Logger = Logger(label: "fractal.leases")) throws(LeaseError) {
        self.configuration = configuration
        self.logger = logger
        cdi = configuration.cdiDirectory.map(CDISpecDirectory.init(path:))
        admissions = AdmissionQueue(
            slots: max(1, configuration.concurrentCreations), maximumWaiting: max(0, configuration.maximumQueuedCreations))
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
            provisioner = try DirectoryProvisioner(allowedRoots: configuration.allowedRoots, limits: configuration.directoryLimits)
        } catch {
            throw .directory(template: configuration.allowedRoots.joined(separator: ", "), error)
        }
    }

    // MARK: Start-up

    /// What start-up found and did, for the log and the operator.
    public struct ReconcileReport: Sendable, CustomStringConvertible {
        /// Leases whose devices outlived the previous process (systemd's file-descriptor store):
        /// active again, with the same devices and nodes.
        public var adopted: [FractalID] = []
        /// The stored descriptors the adopted leases now own; the caller closes every other one.
        public var adoptedDescriptors: Set<Int32> = []
        /// Leases whose devices were not all kept: released, as the store was there to keep them.
        public var released: [FractalID] = []
        /// Leases whose devices died with the previous process; kept, marked `devices-lost`.
        public var devicesLost: [FractalID] = []
        /// Leases interrupted while being made or released, or whose release had failed; their
        /// directories and mounts were removed (or kept, as their release asked) and they are forgotten.
        public var undone: [FractalID] = []
        /// Leases whose undoing still leaves something behind: kept, listed as `release-failed`.
        public var releaseFailed: [FractalID] = []
        public var problems: [String] = []

        public var description: String {
            "reconcile: \(adopted.count) lease(s) adopted with their devices, \(released.count) released whose devices were gone, "
                + "\(devicesLost.count) lease(s) lost their devices with the previous process, \(undone.count) interrupted lease(s) undone"
                + (releaseFailed.isEmpty ? "" : ", \(releaseFailed.count) kept as release-failed")
                + (problems.isEmpty ? "" : "; problems: " + problems.joined(separator: "; "))
        }
    }

    /// Brings the stored state in line with the host after a (possibly unclean) stop.
    ///
    /// A uinput device lives as long as any descriptor of the file that made it. With `stored`
    /// (the descriptors systemd's file-descriptor store kept for this service, by lease and device),
    /// a lease stored as `active` whose every device is there and still the one recorded is
    /// adopted: active again, same devices, same nodes. One whose devices are not all there is
    /// released, directories included (the store was there to keep them: they are gone for good).
    /// Without a store (`stored` nil), devices die with the process that made them, so every lease
    /// stored as `active` lost its devices: it is marked so and kept, since a container may still
    /// use its directories.
    /// A lease stored as `creating` or `releasing` was interrupted: its mounts and directories are
    /// removed (those a release asked to keep stay) and it is forgotten; so is a `release-failed`
    /// one, retried. A lease whose undoing leaves anything behind is kept as `release-failed`, and
    /// no path another lease holds is ever removed.
    @discardableResult
    public func reconcile(adopting stored: [FractalID: [DeviceHandle: Int32]]? = nil) throws(LeaseError) -> ReconcileReport {
        var report = ReconcileReport()
        let records = try store.all()
        var unadoptable: [FractalID] = []
        for var lease in records {
            switch lease.state {
            case .active where stored != nil:
                let kept = stored?[lease.id] ?? [:]
                if let devices = adopt(lease, from: kept) {
                    state.withLock { $0.live[lease.id] = LiveLease(lease: lease, devices: devices) }
                    // A previous version made the devices without these files: a later `udevadm trigger` needs them.
                    if UdevWatcher.isRunning {
                        for device in lease.devices { try? udevProperties.write(id: lease.id, handle: device.handle) }
                    }
                    report.adopted.append(lease.id)
                    report.adoptedDescriptors.formUnion(devices.values.compactMap(\.fileDescriptor))
                    logger.info("lease \(lease.id) adopted with its \(devices.count) device(s) from the previous process")
                } else {
                    lease.state = .devicesLost
                    try store.update(lease)
                    state.withLock { $0.lost[lease.id] = lease }
                    unadoptable.append(lease.id)
                }
            case .active, .devicesLost:
                if lease.state == .active {
                    lease.state = .devicesLost
                    try store.update(lease)
                    report.devicesLost.append(lease.id)
                    logger.warning("lease \(lease.id) lost its devices with the previous process; its directories are kept until it is released")
                }
                udevProperties.remove(id: lease.id)
                state.withLock { $0.lost[lease.id] = lease }
            case .creating, .releasing, .releaseFailed:
                let others = records.filter { $0.id != lease.id }.map { ($0.id, $0.claimedPaths) }
                let interrupted = lease.state
                var (remaining, problems) = releaseDirectories(lease.directories, keep: lease.state != .creating && lease.keepDirectories)
                if lease.state == .creating {
                    let interrupted = removeInterrupted(lease, notClaimedBy: others)
                    remaining += interrupted.remaining
                    problems += interrupted.problems
                }
                problems += removeSession(of: lease.id)
                if problems.isEmpty {
                    try store.delete(lease.id)
                    report.undone.append(lease.id)
                    logger.warning("lease \(lease.id) was interrupted while \(interrupted.rawValue) (or its release had failed); it is undone")
                } else {
                    lease.devices = []
                    lease.directories = remaining
                    lease.state = .releaseFailed
                    lease.releaseProblem = problems.joined(separator: "; ")
                    try store.update(lease)
                    let kept = lease
                    state.withLock { $0.failed[kept.id] = kept }
                    report.releaseFailed.append(lease.id)
                    report.problems += problems
                    logger.error("lease \(lease.id) could not be undone and is kept as release-failed: \(lease.releaseProblem ?? "")")
                }
            }
        }
        report.problems += removeStraySessions()
        report.problems += reconcileCDISpecs(adopted: Set(report.adopted))
        for id in unadoptable {
            do {
                try release(id)
                report.released.append(id)
            } catch {
                report.devicesLost.append(id)
                report.problems.append("release lease \(id), whose devices were gone: \(error)")
            }
        }
        return report
    }

    /// Takes over every device of `lease` from the descriptors the store kept for it (by device);
    /// nil, with the devices it had taken destroyed and the reason logged, when any is missing or
    /// is not the device recorded. The descriptors it did not take stay the caller's to close.
    private func adopt(_ lease: Lease, from stored: [DeviceHandle: Int32]) -> [DeviceHandle: any LeaseDevice]? {
        var adopted: [DeviceHandle: any LeaseDevice] = [:]
        for device in lease.devices {
            guard let fd = stored[device.handle] else {
                logger.warning("lease \(lease.id): no descriptor of its \(device.handle) (\(device.sysname)) was kept across the restart; releasing it")
                for taken in adopted.values { taken.close() }
                return nil
            }
            do {
                if device.role.isHIDPad {
                    // uhid cannot say which device a descriptor holds: the pad with the lease's
                    // phys must be there with the very nodes the lease granted.
                    let pad = try HIDPad(adopting: fd, role: device.role, phys: device.phys, uhidPath: configuration.uhidPath)
                    let found = pad.leased(handle: device.handle, plugged: device.plugged).nodes
                    guard found.map(\.path) == device.nodes.map(\.path), found.map(\.minor) == device.nodes.map(\.minor) else {
                        pad.releaseOwnership()
                        throw UHIDError(code: .notBound, operation: "adopt", path: pad.syspath, detail: "its nodes are not the ones the lease recorded")
                    }
                    adopted[device.handle] = pad
                } else {
                    adopted[device.handle] = try UInputDevice(
                        adopting: fd, profile: .forRole(device.role), phys: device.phys, sysname: device.sysname,
                        uinputPath: configuration.uinputPath)
                }
            } catch {
                logger.warning("lease \(lease.id): the kept descriptor of its \(device.handle) is \(error); releasing the lease")
                for taken in adopted.values { taken.close() }
                return nil
            }
        }
        return adopted
    }

    /// Tells observers of every live lease as if just created: after adoption, once every
    /// observer (session sockets, udev views, the console guard) is in place.
    public func announceLive() {
        for lease in state.withLock({ $0.live.values.map(\.lease) }) { notify(.created(lease)) }
    }

    /// Removes session directories no stored lease owns (left by a crash between their making and the record).
    private func removeStraySessions() -> [String] {
        guard let root = configuration.sessionRoot,
              let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        let known = state.withLock { Set(($0.live.keys.map(\.rawValue) + $0.lost.keys.map(\.rawValue)) + $0.failed.keys.map(\.rawValue)) }
        var problems: [String] = []
        for name in names where !known.contains(name) {
            do { try FileManager.default.removeItem(atPath: root + "/" + name) } catch { problems.append("remove stray session \(name): \(error)") }
        }
        return problems
    }

    /// Removes the lease's session directory; returns what could not be removed.
    @discardableResult
    private func removeSession(of id: FractalID) -> [String] {
        guard let root = configuration.sessionRoot else { return [] }
        let paths = SessionPaths(root: root, id: id)
        guard FileManager.default.fileExists(atPath: paths.directory) else { return [] }
        do { try FileManager.default.removeItem(atPath: paths.directory) } catch {
            logger.warning("lease \(id): removing its session directory \(paths.directory): \(error)")
            return ["remove session directory '\(paths.directory)': \(error)"]
        }
        return []
    }

    /// Makes `<session root>/<id>/{socket,udev}`, readable by the container's users, and the udev
    /// view's control socket.
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
        let made = SessionViews.makeControlSocket(in: paths.udevDirectory)
        guard made == 0 else {
            throw .store(operation: "create the udev view's control socket", path: paths.udevDirectory + "/control", message: String(cString: strerror(-made)))
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
                + Array(state.failed.values)
        }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func lease(_ id: FractalID) throws(LeaseError) -> Lease {
        let found = state.withLock { state in state.live[id]?.lease ?? state.lost[id] ?? state.releasing[id] ?? state.failed[id] }
        guard let found else { throw .notFound(id) }
        return found
    }

    /// Live leases and their devices, for metrics; `failed`: leases kept as `release-failed`.
    public var counts: (leases: Int, devices: Int, lost: Int, failed: Int) {
        state.withLock { state in
            (state.live.count, state.live.values.reduce(0) { $0 + $1.devices.count }, state.lost.count, state.failed.count)
        }
    }

    // MARK: Create

    /// Makes a lease when its turn comes: refused at once (duplicate ID, limit, paths taken, queue
    /// full) without waiting, then queued behind the creations asked for before it (`admissions`),
    /// then made as `create` makes it, off the cooperative thread pool. While it waits its ID is
    /// reserved (a release of it is refused as busy) and nothing is made or recorded.
    public func createInTurn(_ request: LeaseRequest) async throws(LeaseError) -> Lease {
        try await finish(try await beginInTurn(request))
    }

    /// A lease being made in its turn whose devices exist, so that their nodes' paths and numbers
    /// are final, while udevd may still be working on them: what a task's containers are created
    /// from while udevd works (`TaskRunner`). `finish` waits for the rest; a caller that fails
    /// before that calls `abandon`.
    public final class LeaseInProgress: Sendable {
        /// The lease as made so far: state `creating`; its devices, nodes, directories and session
        /// paths as they will stay (no stable links yet: udevd makes them).
        public let lease: Lease
        fileprivate let settled: Task<Result<Lease, LeaseError>, Never>

        fileprivate init(lease: Lease, settled: Task<Result<Lease, LeaseError>, Never>) {
            self.lease = lease
            self.settled = settled
        }
    }

    /// Starts making a lease in its turn (as `createInTurn` does) and returns once its devices
    /// exist; udevd's work, the lease's activation and its observers (session socket, udev view)
    /// go on meanwhile, still within the turn, and `finish` waits for them. Fails as
    /// `createInTurn` does when the lease fails before its devices exist, leaving nothing.
    public func beginInTurn(_ request: LeaseRequest) async throws(LeaseError) -> LeaseInProgress {
        let reserved = try reserve(request)
        let staged = Handoff<Result<Lease, LeaseError>>()
        let settled = Task { () -> Result<Lease, LeaseError> in
            do throws(LeaseError) {
                return .success(try await admissions.run { () async throws(LeaseError) -> Lease in
                    let stage = try await self.blocking(reserved.id) { () throws(LeaseError) in try self.stage(request, reserved: reserved) }
                    staged.give(.success(stage.lease))
                    return try await self.blocking(reserved.id) { () throws(LeaseError) in try self.settle(stage) }
                })
            } catch {
                if case .queueFull = error { self.unreserve(reserved.id) }
                staged.give(.failure(error))
                return .failure(error)
            }
        }
        let lease = try await staged.take().get()
        return LeaseInProgress(lease: lease, settled: settled)
    }

    /// Waits until udevd is done with the lease's devices and the lease is active, with its
    /// observers told; on a failure the lease is already undone, and the error says why.
    public func finish(_ progress: LeaseInProgress) async throws(LeaseError) -> Lease {
        try await progress.settled.value.get()
    }

    /// Gives up a lease in progress: waits for its turn to end, then releases it if it was made.
    public func abandon(_ progress: LeaseInProgress) async {
        guard case .success(let lease) = await progress.settled.value else { return }
        _ = try? await blocking(lease.id) { () throws(LeaseError) in try self.release(lease.id) }
    }

    /// Runs blocking lease work off the cooperative thread pool, keeping its error's type.
    private func blocking<Value: Sendable>(_ id: FractalID, _ body: @escaping @Sendable () throws(LeaseError) -> Value) async throws(LeaseError) -> Value {
        do {
            return try await runBlocking { try body() }
        } catch let error as LeaseError {
            throw error
        } catch {
            throw LeaseError.store(operation: "create lease \(id)", path: "", message: "\(error)")
        }
    }

    /// Makes a lease at once, on the calling thread, outside the admission queue (tools and tests;
    /// the daemon uses `createInTurn`): records it, provisions its directories, creates its
    /// devices, waits for udev. Any failure undoes everything done so far before the error is thrown.
    public func create(_ request: LeaseRequest) throws(LeaseError) -> Lease {
        try settle(try stage(request, reserved: try reserve(request)))
    }

    /// A request checked and its ID and paths reserved: what `make` builds.
    private struct Reservation: Sendable {
        var id: FractalID
        var planned: [String]
    }

    /// Checks `request` and reserves its ID and the paths it plans.
    private func reserve(_ request: LeaseRequest) throws(LeaseError) -> Reservation {
        guard !(request.devices.isEmpty && request.directories.isEmpty) else { throw .empty }
        var seen = Set<DeviceRole>()
        for role in request.devices + request.hotplug where !role.isGamepad && !seen.insert(role).inserted { throw .duplicateRole(role) }
        let gamepads = (request.devices + request.hotplug).filter(\.isGamepad).count
        guard gamepads <= DeviceHandle.maximumGamepads else { throw .tooManyGamepads(gamepads, limit: DeviceHandle.maximumGamepads) }
        let id = request.id ?? FractalID.random()
        for handle in DeviceHandle.assign(request.devices + request.hotplug) where handle.role.isHIDPad {
            let phys = DevicePhys.make(id: id, handle: handle)
            guard phys.utf8.count <= UHIDDeviceDescription.maximumPhysLength else {
                throw .idTooLongForPad(id, handle, limit: UHIDDeviceDescription.maximumPhysLength - (phys.utf8.count - id.rawValue.utf8.count))
            }
        }
        if cdi != nil, !CDISpec.canName(id) { throw .cdiName(id) }

        // Paths that do not resolve are refused by provision() below, with the reason.
        let planned = request.directories.compactMap { try? provisioner.path(for: $0.template, id: id) }
        try reserve(id, planning: planned)
        return Reservation(id: id, planned: planned)
    }

    private func unreserve(_ id: FractalID) {
        state.withLock { state in
            state.busy.removeValue(forKey: id)
            state.planned.removeValue(forKey: id)
        }
    }

    /// A lease made up to its devices, waiting for udevd: what `stage` hands `settle`. Used by one
    /// task at a time, in that order.
    private final class Stage: @unchecked Sendable {
        var lease: Lease
        var devices: [DeviceHandle: any LeaseDevice] = [:]
        var made: MadeDevices?
        /// Where the time of making it went, for the debug log.
        var steps = StepTimes()

        init(lease: Lease) { self.lease = lease }

    }

    /// Records a reserved lease and makes its session, directories and devices, without waiting
    /// for udevd; on any failure undoes what it made and frees the reservation.
    private func stage(_ request: LeaseRequest, reserved: Reservation) throws(LeaseError) -> Stage {
        let (id, planned) = (reserved.id, reserved.planned)
        let stage = Stage(lease: Lease(id: id, state: .creating, owner: request.owner, note: request.note, policy: request.policy))
        stage.lease.plannedDirectories = planned
        do {
            try store.insert(stage.lease)
        } catch {
            unreserve(id)
            throw error
        }
        stage.steps.mark("recorded")
        do throws(LeaseError) {
            stage.lease.session = try makeSession(for: id)
            for request in request.directories {
                do {
                    stage.lease.directories.append(try provisioner.provision(request, for: id))
                } catch {
                    throw LeaseError.directory(template: request.template, error)
                }
                try store.update(stage.lease)
            }
            stage.steps.mark("directories")
            let handles = DeviceHandle.assign(request.devices + request.hotplug)
            let plugged = request.devices.map { _ in true } + request.hotplug.map { _ in false }
            let made = try createDevices(Array(zip(handles, plugged)), id: id) { stage.devices[$0] = $1 }
            stage.made = made
            stage.lease.devices = made.leased
            stage.steps.mark("devices")
        } catch {
            undo(stage)
            throw error
        }
        return stage
    }

    /// Waits for udevd to finish with a staged lease's devices, then makes it active and tells
    /// the observers; on any failure undoes it.
    private func settle(_ stage: Stage) throws(LeaseError) -> Lease {
        let id = stage.lease.id
        do throws(LeaseError) {
            if let made = stage.made {
                let settled = try awaitUdev(made, id: id)
                stage.lease.devices = settled.devices
                stage.lease.udev = settled.udev
            }
            stage.steps.mark("udev")
            try writeCDISpec(stage.lease)
            stage.lease.state = .active
            try store.update(stage.lease)
            stage.steps.mark("spec and record")
        } catch {
            undo(stage)
            throw error
        }
        let created = stage.lease
        state.withLock { state in
            state.busy.removeValue(forKey: id)
            state.planned.removeValue(forKey: id)
            state.live[id] = LiveLease(lease: created, devices: stage.devices)
        }
        notify(.created(created))
        stage.steps.mark("session socket and udev view")
        logger.debug("lease \(id) active: \(stage.steps.account)")
        return created
    }

    /// Undoes a lease being made: its devices, udev files, directories and session; the record
    /// goes, unless something is left on disk, when it stays as release-failed to say so.
    private func undo(_ stage: Stage) {
        let lease = stage.lease
        let id = lease.id
        try? cdi?.remove(id)
        for device in stage.devices.values { device.close() }
        udevProperties.remove(id: id)
        let (remaining, problems) = releaseDirectories(lease.directories, keep: false)
        var kept: Lease?
        if problems.isEmpty && removeSession(of: id).isEmpty {
            try? store.delete(id)
        } else {
            var failed = lease
            failed.devices = []
            failed.directories = remaining
            failed.plannedDirectories = []
            failed.state = .releaseFailed
            failed.releaseProblem = problems.joined(separator: "; ")
            try? store.update(failed)
            kept = failed
            logger.error("lease \(id): undoing a failed create left something behind; kept as release-failed: \(failed.releaseProblem ?? "")")
        }
        state.withLock { state in
            state.busy.removeValue(forKey: id)
            state.planned.removeValue(forKey: id)
            if let kept { state.failed[id] = kept }
        }
    }

    /// Devices just created, and the udev watcher that was listening before they existed.
    private struct MadeDevices {
        var leased: [LeasedDevice]
        var made: [any LeaseDevice]
        var watcher: UdevWatcher?
    }

    /// Creates devices for `handles` (with whether each starts plugged) and waits for udev;
    /// `created` hears of each device as soon as it exists, so the caller can undo them on a failure.
    private func makeDevices(
        _ handles: [(DeviceHandle, Bool)], id: FractalID, lineup: [DeviceHandle], created: (DeviceHandle, any LeaseDevice) -> Void
    ) throws(LeaseError) -> (devices: [LeasedDevice], udev: UdevReadiness?) {
        try awaitUdev(try createDevices(handles, id: id, lineup: lineup, created: created), id: id)
    }

    /// Creates devices for `handles` without waiting for udevd: their nodes' paths and numbers are
    /// known once the kernel made them.
    /// `lineup`: every device the lease will have, in order, which gives each game controller its
    /// player number (the ones made here when nil).
    private func createDevices(
        _ handles: [(DeviceHandle, Bool)], id: FractalID, lineup: [DeviceHandle]? = nil, created: (DeviceHandle, any LeaseDevice) -> Void
    ) throws(LeaseError) -> MadeDevices {
        let lineup = lineup ?? handles.map(\.0)
        let watcher = UdevWatcher.isRunning ? try UdevWatcher() : nil
        let permissions = watcher != nil ? UdevRules.installedNodePermissions() : nil
        var made: [any LeaseDevice] = []
        var leased: [LeasedDevice] = []
        for (handle, plugged) in handles {
            // Before the device exists, so udevd finds it with the device's first uevent.
            if watcher != nil { try udevProperties.write(id: id, handle: handle) }
            do {
                let phys = DevicePhys.make(id: id, handle: handle)
                let device: any LeaseDevice = handle.role.isHIDPad
                    ? try HIDPad(role: handle.role, phys: phys, uhidPath: configuration.uhidPath)
                    : try UInputDevice(profile: .forRole(handle.role), phys: phys, uinputPath: configuration.uinputPath)
                created(handle, device)
                made.append(device)
                let nodes = device.leased(handle: handle, plugged: plugged)
                leased.append(nodes)
                // What udevd will give them, now: a container started before udevd is done gets it from Docker.
                if let permissions {
                    for node in nodes.nodes where chown(node.path, uid_t.max, permissions.group) != 0 || chmod(node.path, permissions.mode) != 0 {
                        logger.debug("lease \(id): giving \(node.path) the rules' group and mode: \(String(cString: strerror(errno)))")
                    }
                }
                if let pad = device as? HIDPad, let player = Lease.player(of: handle, among: lineup) {
                    do { try pad.showPlayer(player) } catch {
                        logger.warning("lease \(id): lighting the \(handle)'s player LEDs for player \(player): \(error)")
                    }
                }
            } catch {
                throw LeaseError.device(handle, error)
            }
        }
        return MadeDevices(leased: leased, made: made, watcher: watcher)
    }

    /// Waits until udevd has initialised the devices and checks that our rules ran on them.
    private func awaitUdev(_ devices: MadeDevices, id: FractalID) throws(LeaseError) -> (devices: [LeasedDevice], udev: UdevReadiness?) {
        var leased = devices.leased
        guard !devices.made.isEmpty else { return ([], nil) }
        guard let watcher = devices.watcher else {
            logger.notice("no udevd runs on this host (/run/udev/control is missing): lease \(id) is handed out without udev rules having run")
            return (leased, .notRunning)
        }
        let syspaths = devices.made.flatMap(\.udevSyspaths)
        try watcher.waitUntilInitialized(syspaths, id: id, timeout: configuration.udevTimeout)
        // Fail closed: without our rules (missing, or older than this daemon) the devices carry
        // the seat and uaccess tags, and the host's own desktop would take a session's keyboard.
        let unmarked = watcher.lacking(UdevRules.hiddenProperty, in: syspaths)
        guard unmarked.isEmpty else { throw .udevRulesMissing(id, devices: unmarked.map { ($0 as NSString).lastPathComponent }) }
        for index in leased.indices {
            let link = DeviceNode.stableLink(id: id, handle: leased[index].handle, kind: .event)
            if FileManager.default.fileExists(atPath: link) { leased[index].stableLink = link }
        }
        return (leased, .initialized)
    }

    /// Marks `id` as being created, with the paths it plans; refuses an ID in use and paths at,
    /// above or below another lease's (so start-up never removes one lease's directory as another's).
    private func reserve(_ id: FractalID, planning planned: [String]) throws(LeaseError) {
        let outcome: LeaseError? = state.withLock { state in
            if state.live[id] != nil || state.lost[id] != nil || state.failed[id] != nil { return .duplicate(id) }
            if state.busy[id] != nil { return .duplicate(id) }
            if state.live.count + state.busy.count >= configuration.maximumLeases {
                return .limitReached(limit: configuration.maximumLeases)
            }
            if let taken = state.claim(on: planned, except: id) { return .pathTaken(taken.path, owner: taken.owner) }
            state.busy[id] = .creating
            state.planned[id] = planned
            return nil
        }
        if let outcome { throw outcome }
    }

    // MARK: Hot-plug

    /// Plugs `handle` into the running session: an unplugged device of the lease is plugged;
    /// with `creatingIfMissing`, a device the lease lacks is created (only when no container holds
    /// fixed device grants for the lease: the caller knows). Observers hear `.changed`.
    public func plug(_ id: FractalID, handle: DeviceHandle, creatingIfMissing: Bool) throws(LeaseError) -> Lease {
        let current = try beginChange(id)
        defer { endChange(id) }
        var lease = current.lease
        var added: (any LeaseDevice)?
        if let index = lease.devices.firstIndex(where: { $0.handle == handle }) {
            guard !lease.devices[index].plugged else { throw .alreadyPlugged(handle, lease: id) }
            lease.devices[index].plugged = true
        } else {
            guard creatingIfMissing else { throw .notProvisioned(handle, lease: id) }
            if handle.role.isGamepad {
                let gamepads = lease.devices.filter(\.role.isGamepad).count + 1
                guard gamepads <= DeviceHandle.maximumGamepads else { throw .tooManyGamepads(gamepads, limit: DeviceHandle.maximumGamepads) }
            }
            do throws(LeaseError) {
                let made = try makeDevices([(handle, true)], id: id, lineup: lease.devices.map(\.handle) + [handle]) { _, device in
                    added = device
                }
                lease.devices += made.devices
            } catch {
                added?.close()
                udevProperties.remove(id: id, handle: handle)
                throw error
            }
        }
        do { try store.update(lease) } catch {
            if added != nil {
                added?.close()
                udevProperties.remove(id: id, handle: handle)
            }
            throw error
        }
        let changed = lease
        state.withLock { state in
            state.live[id]?.lease = changed
            if let added { state.live[id]?.devices[handle] = added }
        }
        rewriteCDISpec(changed)
        notify(.changed(changed))
        return changed
    }

    /// Unplugs `handle` from the running session: every key it holds is released, and with
    /// `destroying` the device is destroyed and leaves the lease; otherwise it stays, unplugged,
    /// for a later plug (its node numbers stay granted to the lease's containers).
    public func unplug(_ id: FractalID, handle: DeviceHandle, destroying: Bool) throws(LeaseError) -> Lease {
        let current = try beginChange(id)
        defer { endChange(id) }
        var lease = current.lease
        guard let index = lease.devices.firstIndex(where: { $0.handle == handle }), let device = current.devices[handle] else {
            throw .unknownRole(handle.description, lease: id)
        }
        guard lease.devices[index].plugged else { throw .notPlugged(handle, lease: id) }
        if destroying { lease.devices.remove(at: index) } else { lease.devices[index].plugged = false }
        try store.update(lease)
        let changed = lease
        // Observers withdraw the device from the session before it goes quiet or away.
        state.withLock { $0.live[id]?.lease = changed }
        rewriteCDISpec(changed)
        notify(.changed(changed))
        if destroying {
            state.withLock { _ = $0.live[id]?.devices.removeValue(forKey: handle) }
            device.close()
            udevProperties.remove(id: id, handle: handle)
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

    // MARK: CDI

    /// Writes `lease`'s CDI spec from its grant, with each node's mode and owner as udevd left them.
    private func writeCDISpec(_ lease: Lease) throws(LeaseError) {
        guard let cdi else { return }
        let grant = ContainerGrant(lease: lease)
        var ownership: [String: CDISpec.NodeOwnership] = [:]
        for node in grant.presentNodes { ownership[node.hostPath] = .of(node.hostPath) }
        do { try cdi.write(CDISpec(grant: grant, ownership: ownership), of: lease.id) } catch { throw .cdiSpec(lease.id, error) }
    }

    /// After a hot-plug: the device is plugged either way, and engines starting containers later
    /// read the new spec; one that cannot be written is logged, and the old one stays.
    private func rewriteCDISpec(_ lease: Lease) {
        do { try writeCDISpec(lease) } catch {
            logger.error("lease \(lease.id): \(error); containers started through CDI get the devices as they were before this change")
        }
    }

    /// Rewrites the specs of adopted leases and removes every other spec of ours: no engine may
    /// start a container with a lease that is not active.
    private func reconcileCDISpecs(adopted: Set<FractalID>) -> [String] {
        guard let cdi else { return [] }
        var problems: [String] = []
        for id in adopted {
            guard let lease = state.withLock({ $0.live[id]?.lease }) else { continue }
            do { try writeCDISpec(lease) } catch { problems.append("\(error)") }
        }
        let removed = cdi.removeAll(except: adopted)
        if !removed.isEmpty { logger.info("removed \(removed.count) CDI spec(s) of leases no longer active from \(cdi.path)") }
        return problems
    }

    // MARK: Release

    /// Destroys a lease's devices, unmounts and removes its directories (unless kept), forgets it.
    /// Releasing an ID that is not (or no longer) leased throws `.notFound` and changes nothing.
    ///
    /// `keepDirectories` is written to the record before anything is undone, so a release that
    /// start-up finishes after a crash keeps them too. When something cannot be undone (a mount
    /// inside a directory, a file that cannot be removed), the lease is kept as `release-failed`
    /// with what is left and why, and `.releaseIncomplete` is thrown: releasing it again retries.
    @discardableResult
    public func release(_ id: FractalID, keepDirectories: Bool = false) throws(LeaseError) -> Lease {
        /// Where the lease was, to put it back if the release cannot even start.
        enum Origin {
            case live(LiveLease)
            case lost(Lease)
            case failed(Lease)
        }
        let taken: Result<(Lease, [any LeaseDevice], Origin), LeaseError> = state.withLock { state in
            if let busy = state.busy[id] { return .failure(.busy(id, busy)) }
            var taken: (Lease, [any LeaseDevice], Origin)?
            if let live = state.live.removeValue(forKey: id) {
                taken = (live.lease, Array(live.devices.values), .live(live))
            } else if let lost = state.lost.removeValue(forKey: id) {
                taken = (lost, [], .lost(lost))
            } else if let failed = state.failed.removeValue(forKey: id) {
                taken = (failed, [], .failed(failed))
            }
            guard let (found, devices, origin) = taken else { return .failure(.notFound(id)) }
            var lease = found
            lease.state = .releasing
            lease.keepDirectories = keepDirectories
            state.busy[id] = .releasing
            state.releasing[id] = lease
            return .success((lease, devices, origin))
        }
        let (lease, devices, origin) = try taken.get()
        /// Ends the release: forgotten, or kept as `failed`, in one step so it is always listed.
        func finish(keeping failed: Lease?) {
            state.withLock { state in
                state.busy.removeValue(forKey: id)
                state.releasing.removeValue(forKey: id)
                if let failed { state.failed[id] = failed }
            }
        }

        do { try store.update(lease) } catch {
            // Nothing is undone yet: the lease stays as it was.
            state.withLock { state in
                state.busy.removeValue(forKey: id)
                state.releasing.removeValue(forKey: id)
                switch origin {
                case .live(let live): state.live[id] = live
                case .lost(let lost): state.lost[id] = lost
                case .failed(let failed): state.failed[id] = failed
                }
            }
            throw error
        }
        // First, so no engine starts a container with the lease while it goes.
        var specProblems: [String] = []
        do { try cdi?.remove(id) } catch { specProblems.append("\(error)") }
        notify(.releasing(lease))
        for device in devices { device.close() }
        udevProperties.remove(id: id)
        let (remaining, directoryProblems) = releaseDirectories(lease.directories, keep: keepDirectories)
        var problems = specProblems + directoryProblems + removeSession(of: id)
        guard problems.isEmpty else {
            var failed = lease
            failed.devices = []
            failed.directories = remaining
            failed.state = .releaseFailed
            failed.releaseProblem = problems.joined(separator: "; ")
            // If even this fails, the record says `releasing` with every directory: start-up retries.
            do { try store.update(failed) } catch { problems.append("\(error)") }
            finish(keeping: failed)
            logger.error("lease \(id) kept as release-failed: \(failed.releaseProblem ?? "")")
            throw .releaseIncomplete(id, problems: problems)
        }
        do { try store.delete(id) } catch {
            // Everything is undone; the record (`releasing`) is forgotten at the next start.
            finish(keeping: nil)
            throw error
        }
        finish(keeping: nil)
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

    /// Undoes `directories`, last made first; returns those left behind, with why for each.
    private func releaseDirectories(_ directories: [ProvisionedDirectory], keep: Bool) -> (remaining: [ProvisionedDirectory], problems: [String]) {
        var remaining: [ProvisionedDirectory] = []
        var problems: [String] = []
        for directory in directories.reversed() {
            do { try provisioner.release(directory, keep: keep ? true : nil) } catch {
                remaining.insert(directory, at: 0)
                problems.append("\(error)")
            }
        }
        return (remaining, problems)
    }

    /// Removes what a killed process planned for `lease`, and may have made and mounted, but had
    /// not recorded; a path that another lease holds (`claims`) is never touched. Returns what
    /// is left behind as records of its own, so a later release retries exactly that.
    private func removeInterrupted(
        _ lease: Lease, notClaimedBy claims: [(FractalID, [String])]
    ) -> (remaining: [ProvisionedDirectory], problems: [String]) {
        let recorded = Set(lease.directories.map(\.path))
        var remaining: [ProvisionedDirectory] = []
        var problems: [String] = []
        for path in lease.plannedDirectories where !recorded.contains(path) {
            if let (_, owner) = Self.overlap(of: [path], with: claims) {
                logger.warning("lease \(lease.id): its planned directory \(path) overlaps lease \(owner)'s; left to that lease")
                continue
            }
            // The provisioner refuses to provision over an existing directory, and no other lease
            // may plan the same path, so one found at a planned path was made by that process.
            guard let root = provisioner.allowedRoots.first(where: { path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }),
                  FileManager.default.fileExists(atPath: path) else { continue }
            // Unmounting a directory that is not a mount point is a no-op for release().
            let directory = ProvisionedDirectory(
                id: lease.id, path: path, root: root, createdIntermediates: [],
                mount: ProvisionedMount(kind: .tmpfs, target: path, source: nil), keep: false)
            do { try provisioner.release(directory) } catch {
                remaining.append(directory)
                problems.append("\(error)")
            }
        }
        return (remaining, problems)
    }

    // MARK: Events

    /// Writes a batch of events to one of a lease's devices with one `write(2)`.
    public func inject(_ id: FractalID, handle: DeviceHandle, events: [InputEvent]) throws(LeaseError) {
        let device: (any LeaseDevice)? = state.withLock { $0.live[id]?.devices[handle] }
        guard let device else {
            if state.withLock({ $0.live[id] == nil }) { throw .notFound(id) }
            throw .unknownRole(handle.description, lease: id)
        }
        do { try device.write(events) } catch { throw .write(handle, error) }
    }

    /// A live lease's device, for the session socket; nil when the lease or device is not live.
    public func device(_ id: FractalID, handle: DeviceHandle) -> (any LeaseDevice)? {
        state.withLock { $0.live[id]?.devices[handle] }
    }
}
