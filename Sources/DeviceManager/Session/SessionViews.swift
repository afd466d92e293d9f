import CFractalLinux
import Foundation
import FractalSystem
import Logging
import Synchronization
import SystemPackage

/// What each lease's containers see of its devices, kept in step with the lease: udev records of
/// exactly the plugged devices in the lease's udev directory (bound at the container's
/// /run/udev), and, for hot-plug, the device nodes in each running container's /dev/input (a
/// pad's hidraw node in its /dev) and
/// libudev "add"/"remove" messages inside each container's network namespace, where its
/// libudev monitors (libinput, SDL2) listen.
///
/// Knows nothing of Docker: the agent attaches a container by its init process's PID, which is
/// turned into descriptors of that process's root and network namespace at once (checked through
/// a pidfd), so a later hot-plug never reaches whatever process reuses the PID.
public final class SessionViews: Sendable {
    /// A running container of a lease: where to make nodes, and a uevent socket in its netns.
    private struct Attachment {
        /// For messages only: nothing is looked up by it after `attach`.
        var pid: Int32
        /// The container's root directory (O_PATH), opened when it was attached.
        var root: Int32
        var ueventSocket: Int32

        func close() {
            Glibc.close(root)
            Glibc.close(ueventSocket)
        }
    }

    /// A device the view shows, with what was announced of it (so its withdrawal sends the same).
    private struct Shown {
        var device: LeasedDevice
        var announcements: [UdevAnnouncement]
        /// When its records were written (CLOCK_BOOTTIME, ns): a container attached later whose
        /// process is older may have looked before, and is told of the device then (`attach`).
        var recordedAt: UInt64
    }

    private struct State {
        /// The plugged devices each lease's view shows, by lease.
        var shown: [FractalID: [Shown]] = [:]
        var attachments: [FractalID: [Attachment]] = [:]
        var sequenceNumber: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Held across a whole change of a view or an attachment (the I/O included), so that a
    /// container attached while its lease's records are written gets every device exactly once.
    private let changes = Mutex(())
    private let logger: Logger
    /// The host's udev database, where the records are copied from.
    private let hostDatabase: String

    public init(logger: Logger, hostDatabase: String = "/run/udev/data") {
        self.logger = logger
        self.hostDatabase = hostDatabase
    }

    /// Follows `manager`'s leases from now on.
    public func follow(_ manager: LeaseManager) {
        manager.addObserver { [self] change in
            switch change {
            case .created(let lease), .changed(let lease): update(lease)
            case .releasing(let lease): withdrawAll(lease)
            }
        }
    }

    // MARK: Containers

    /// Starts announcing the lease's hot-plugs to the container whose init process is `pid`.
    public func attach(_ id: FractalID, containerPID pid: Int32) throws(SessionViewError) {
        // The pidfd pins the process the PID names now; if it is still alive after the opens
        // below, they opened that process's root and namespace, not a successor's.
        let pidfd = cfl_pidfd_open(pid)
        guard pidfd >= 0 else { throw .system(operation: "pidfd_open", path: "process \(pid)", errno: -pidfd) }
        defer { close(pidfd) }
        let namespacePath = "/proc/\(pid)/ns/net"
        let namespace = open(namespacePath, O_RDONLY | O_CLOEXEC)
        guard namespace >= 0 else { throw .system(operation: "open", path: namespacePath, errno: errno) }
        defer { close(namespace) }
        let rootPath = "/proc/\(pid)/root"
        let root = open(rootPath, CFL_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw .system(operation: "open", path: rootPath, errno: errno) }
        let alive = cfl_pidfd_alive(pidfd)
        guard alive == 0 else {
            close(root)
            throw .system(operation: "check that the container's process still runs:", path: "process \(pid)", errno: -alive)
        }
        let socket = cfl_uevent_socket_in_netns(namespace)
        guard socket >= 0 else {
            close(root)
            throw .system(operation: "open a uevent socket in the network namespace of", path: namespacePath, errno: -socket)
        }
        let attachment = Attachment(pid: pid, root: root, ueventSocket: socket)
        let startedAt = Self.startTime(of: pid)
        changes.withLock { _ in
            let shown = state.withLock { state in
                state.attachments[id, default: []].append(attachment)
                return state.shown[id] ?? []
            }
            // A container may start before udevd is done with its lease (a task's start does not
            // wait), and a process that looked before the records were written saw none: a
            // container whose process is older than a device's records hears it added, as a
            // hot-plug. Its nodes (Docker's) take the host's mode and owner again: the lease gave
            // the host's nodes the rules' before Docker copied them, unless it could not read them.
            for device in shown {
                for node in device.device.nodes { makeNode(node, in: attachment, create: false) }
                if startedAt.map({ $0 <= device.recordedAt + Self.startTimeResolution }) ?? true {
                    announce(device.announcements, action: .add, to: attachment)
                }
            }
        }
    }

    /// When process `pid` started (CLOCK_BOOTTIME, ns, in clock ticks: /proc/PID/stat's 22nd field).
    static func startTime(of pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command's closing parenthesis start at the 3rd (state).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = UInt64(fields[19]) else { return nil }
        return ticks * startTimeResolution
    }

    /// The grain of `startTime`: one clock tick.
    static var startTimeResolution: UInt64 { 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK))) }

    static func bootTimeNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Stops announcing to the lease's containers (they ended).
    public func detach(_ id: FractalID) {
        let attachments = state.withLock { $0.attachments.removeValue(forKey: id) ?? [] }
        for attachment in attachments { attachment.close() }
    }

    // MARK: Following leases

    private func update(_ lease: Lease) {
        guard let session = lease.session else { return }
        changes.withLock { _ in update(lease, session: session) }
    }

    private func update(_ lease: Lease, session: SessionPaths) {
        let (before, attachments) = state.withLock { state in
            (state.shown[lease.id], state.attachments[lease.id] ?? [])
        }
        let nowPlugged = Set(lease.pluggedDevices.map(\.handle))
        var shown: [Shown] = []
        for old in before ?? [] {
            if nowPlugged.contains(old.device.handle) {
                shown.append(old)
            } else {
                withdraw(old, from: attachments, session: session)
            }
        }
        let shownBefore = Set((before ?? []).map(\.device.handle))
        for device in lease.pluggedDevices where !shownBefore.contains(device.handle) {
            let announcements = writeRecords(device, of: lease, session: session)
            shown.append(Shown(device: device, announcements: announcements, recordedAt: Self.bootTimeNow()))
            // A container attached already (one started before udevd was done, or a hot-plug)
            // gets the node and hears it added; one not attached yet is told when it is.
            for attachment in attachments {
                for node in device.nodes { makeNode(node, in: attachment) }
                announce(announcements, action: .add, to: attachment)
            }
        }
        state.withLock { $0.shown[lease.id] = shown }
    }

    private func withdrawAll(_ lease: Lease) {
        guard let session = lease.session else { return }
        changes.withLock { _ in
            let (shown, attachments) = state.withLock { state in
                (state.shown.removeValue(forKey: lease.id) ?? [], state.attachments.removeValue(forKey: lease.id) ?? [])
            }
            for device in shown { withdraw(device, from: attachments, session: session) }
            for attachment in attachments { attachment.close() }
        }
    }

    private func withdraw(_ shown: Shown, from attachments: [Attachment], session: SessionPaths) {
        for attachment in attachments {
            announce(shown.announcements.reversed(), action: .remove, to: attachment)
            for node in shown.device.nodes { removeNode(node, in: attachment) }
        }
        for announcement in shown.announcements {
            unlink(session.udevDirectory + "/data/" + Self.databaseName(announcement))
        }
    }

    // MARK: Records

    /// Each input device first, then its nodes: the order udevd announces them in. A uinput
    /// device is one input device; a HID pad is several (gamepad, motion sensors, touchpad), and
    /// its hidraw node hangs off the HID device itself.
    private func announcements(_ device: LeasedDevice, of lease: Lease) -> [UdevAnnouncement] {
        func record(_ name: String) -> UdevRecord {
            if let text = try? String(contentsOfFile: hostDatabase + "/" + name, encoding: .utf8) {
                return UdevRecord(containerViewOf: text)
            }
            return UdevRecord(synthesisedFor: device.role, id: lease.id)
        }
        let hidraw = DeviceNode.Kind.hidraw.rawValue
        var announcements: [UdevAnnouncement] = []
        var inputsAnnounced = Set<String>()
        for node in device.nodes {
            let nodePath = node.devicePath ?? "/devices/virtual/input/\(device.sysname)/\(node.name)"
            if node.kind != hidraw {
                let input = node.inputDevice ?? device.sysname
                if inputsAnnounced.insert(input).inserted {
                    let inputPath = (nodePath as NSString).deletingLastPathComponent
                    announcements.append(UdevAnnouncement(devicePath: inputPath, record: record("+input:" + input)))
                }
            }
            announcements.append(UdevAnnouncement(
                devicePath: nodePath, subsystem: node.kind == hidraw ? "hidraw" : "input", deviceNode: node.path,
                major: node.major, minor: node.minor, record: record("c\(node.major):\(node.minor)")))
        }
        return announcements
    }

    static func databaseName(_ announcement: UdevAnnouncement) -> String {
        if let major = announcement.major, let minor = announcement.minor { return "c\(major):\(minor)" }
        return "+input:" + (announcement.devicePath as NSString).lastPathComponent
    }

    /// Writes the device's records (each by rename, so a reader never sees half of one).
    private func writeRecords(_ device: LeasedDevice, of lease: Lease, session: SessionPaths) -> [UdevAnnouncement] {
        let announcements = self.announcements(device, of: lease)
        let data = session.udevDirectory + "/data"
        mkdir(data, 0o755)
        chmod(data, 0o755)
        for announcement in announcements {
            let path = data + "/" + Self.databaseName(announcement)
            do {
                try Data(announcement.record.databaseText.utf8).write(to: URL(filePath: path), options: .atomic)
                chmod(path, 0o644)
            } catch {
                logger.warning("lease \(lease.id): writing the udev record \(path): \(error)")
            }
        }
        return announcements
    }

    /// libudev monitors in the container stay deaf unless /run/udev/control exists ("no udev
    /// running"), and look only when they are made: a socket file that nobody listens on (what
    /// a stopped udevd leaves too), made with the session's directory, before any container
    /// starts. Returns 0 or -errno.
    static func makeControlSocket(in directory: String) -> Int32 {
        let path = directory + "/control"
        unlink(path)
        let fd = cfl_unix_listen(path, 1)
        guard fd >= 0 else { return fd }
        close(fd)
        return 0
    }

    // MARK: Containers' /dev and netns

    /// The container's directory for `node`: /dev/input, or /dev itself for a hidraw node,
    /// resolved inside the container's root: the container owns its /dev and could plant
    /// symlinks there, which must never lead this root process out.
    private func containerDirectory(for node: LeasedNode, _ attachment: Attachment, create: Bool) -> Int32? {
        let root = attachment.root
        let inRoot = UInt64(CFL_RESOLVE_IN_ROOT | CFL_RESOLVE_NO_MAGICLINKS)
        let dev = cfl_openat2(root, "dev", UInt64(CFL_O_PATH | O_DIRECTORY | O_CLOEXEC), 0, inRoot)
        guard dev >= 0 else { return nil }
        guard node.kind != DeviceNode.Kind.hidraw.rawValue else { return dev }
        defer { close(dev) }
        if create { mkdirat(dev, "input", 0o755) }
        let input = cfl_openat2(dev, "input", UInt64(CFL_O_PATH | O_DIRECTORY | O_CLOEXEC), 0, UInt64(CFL_RESOLVE_BENEATH | CFL_RESOLVE_NO_SYMLINKS))
        return input >= 0 ? input : nil
    }

    /// Makes the node in the container (`create`), or only gives the one there (Docker's) the
    /// host's mode and owner; a node the container removed or replaced is left as it is.
    private func makeNode(_ node: LeasedNode, in attachment: Attachment, create: Bool = true) {
        let name = (node.path as NSString).lastPathComponent
        guard let input = containerDirectory(for: node, attachment, create: create) else {
            if create { logger.warning("container process \(attachment.pid) has no usable /dev/input for \(name)") }
            return
        }
        defer { close(input) }
        // The same mode and owner as the host's node, as Docker gives the nodes it makes at start.
        var host = stat()
        guard stat(node.path, &host) == 0 else { return }
        let number = Self.deviceNumber(major: node.major, minor: node.minor)
        if create, mknodat(input, name, S_IFCHR | (host.st_mode & 0o7777), number) != 0 && errno != EEXIST {
            logger.warning("making \(name) in container process \(attachment.pid): \(Errno(rawValue: errno))")
            return
        }
        // mknod's mode was cut by the umask; fix mode and owner through a descriptor of exactly
        // that node (never a path the container could swap for a symlink).
        let fd = openat(input, name, CFL_O_PATH | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var made = stat()
        guard fstat(fd, &made) == 0, made.st_mode & S_IFMT == S_IFCHR, made.st_rdev == number else { return }
        fchownat(fd, "", host.st_uid, host.st_gid, CFL_AT_EMPTY_PATH)
        chmod("/proc/self/fd/\(fd)", host.st_mode & 0o7777)
    }

    private func removeNode(_ node: LeasedNode, in attachment: Attachment) {
        guard let input = containerDirectory(for: node, attachment, create: false) else { return }
        defer { close(input) }
        let name = (node.path as NSString).lastPathComponent
        if unlinkat(input, name, 0) != 0 && errno != ENOENT {
            logger.debug("removing \(name) in container process \(attachment.pid): \(Errno(rawValue: errno))")
        }
    }

    /// glibc's makedev(3), a macro Swift cannot import.
    static func deviceNumber(major: UInt32, minor: UInt32) -> dev_t {
        let major = UInt64(major), minor = UInt64(minor)
        return dev_t(((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff))
    }

    private func announce(_ announcements: some Sequence<UdevAnnouncement>, action: UdevAnnouncement.Action, to attachment: Attachment) {
        for announcement in announcements {
            let sequence = state.withLock { state in
                state.sequenceNumber += 1
                return state.sequenceNumber
            }
            let properties = announcement.properties(action: action, sequenceNumber: sequence)
            let tags = announcement.record.tags.map { strdup($0) } + [nil]
            defer { for tag in tags { free(tag) } }
            let result = tags.map { UnsafePointer($0) }.withUnsafeBufferPointer { tagPointers in
                properties.withUnsafeBufferPointer { bytes in
                    bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) { text in
                        cfl_udev_monitor_send(attachment.ueventSocket, announcement.subsystem, nil, tagPointers.baseAddress, text, bytes.count)
                    }
                }
            }
            if result != 0 {
                logger.warning("announcing \(action.rawValue) of \(announcement.devicePath) to container process \(attachment.pid): \(Errno(rawValue: -result))")
            }
        }
    }
}

/// Why a container could not be attached to its lease's view.
public enum SessionViewError: Error, CustomStringConvertible, Sendable {
    case system(SystemError)

    /// A system call failed: `operation` on `path`, with `errno`.
    static func system(operation: String, path: String, errno: Int32) -> SessionViewError {
        .system(SystemError(operation: operation, path: path, errno: errno))
    }

    public var description: String {
        switch self {
        case .system(let failure): "\(failure.operation) \(failure.path) failed: \(failure.reason)"
        }
    }
}
