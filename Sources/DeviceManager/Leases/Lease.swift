import Foundation

/// One device node of a leased device, as recorded and reported.
public struct LeasedNode: Codable, Hashable, Sendable {
    /// `event`, `joystick`, `mouse` or `hidraw`.
    public var kind: String
    /// `/dev/input/event5`, `/dev/hidraw2`.
    public var path: String
    public var major: UInt32
    public var minor: UInt32
    /// For a HID pad's node: which of its input devices the node belongs to, when not the main
    /// one (`motion`, `touchpad`); nil for the main one, its hidraw node and every uinput device.
    public var part: DevicePart?
    /// For a HID pad's input node: the sysfs name of its input device (`input21`); nil where it
    /// is the device's own (`LeasedDevice.sysname`) and for hidraw.
    public var inputDevice: String?
    /// For a HID pad's nodes: the node's sysfs path below /sys (`/devices/virtual/misc/uhid/
    /// 0003:054C:0CE6.0001/input/input21/event7`); nil for uinput devices, whose nodes sit at
    /// `/devices/virtual/input/<sysname>/<name>`.
    public var devicePath: String?

    public init(
        kind: String, path: String, major: UInt32, minor: UInt32, part: DevicePart? = nil, inputDevice: String? = nil,
        devicePath: String? = nil
    ) {
        self.kind = kind
        self.path = path
        self.major = major
        self.minor = minor
        self.part = part
        self.inputDevice = inputDevice
        self.devicePath = devicePath
    }

    init(_ node: DeviceNode) {
        self.init(kind: node.kind.rawValue, path: node.path, major: node.major, minor: node.minor)
    }

    /// The node's name in /dev (`event5`, `hidraw2`).
    public var name: String { String(path.split(separator: "/").last ?? "") }
}

/// A device created for a lease.
public struct LeasedDevice: Codable, Hashable, Sendable {
    public var role: DeviceRole
    /// How the lease names it (`gamepad`, `gamepad-2`): its phys's last part and its link's name.
    public var handle: DeviceHandle
    /// The name the kernel and every tool show (`Fractal Virtual Keyboard`).
    public var name: String
    /// `fractal/<FractalID>/<handle>`: what the udev rules match on.
    public var phys: String
    /// The sysfs name of the input device (`input17`).
    public var sysname: String
    public var nodes: [LeasedNode]
    /// `/dev/input/by-fractal-id/<FractalID>/<handle>` when the udev rules are installed and udevd ran them.
    public var stableLink: String?
    /// Whether the session sees the device. An unplugged device still exists in the kernel (its
    /// node numbers stay granted to the lease's containers) but has no node, udev record or
    /// session-socket entry in the session until it is plugged.
    public var plugged: Bool = true

    public init(
        role: DeviceRole, handle: DeviceHandle? = nil, name: String, phys: String, sysname: String, nodes: [LeasedNode],
        stableLink: String? = nil, plugged: Bool = true
    ) {
        self.role = role
        self.handle = handle ?? DeviceHandle(role)
        self.name = name
        self.phys = phys
        self.sysname = sysname
        self.nodes = nodes
        self.stableLink = stableLink
        self.plugged = plugged
    }

    private enum CodingKeys: String, CodingKey { case role, handle, name, phys, sysname, nodes, stableLink, plugged }

    /// Records written before hot-plug have no `plugged`: their devices were all plugged. Those
    /// written before several of a kind have no `handle`: each was its role's only device.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        role = try container.decode(DeviceRole.self, forKey: .role)
        handle = try container.decodeIfPresent(DeviceHandle.self, forKey: .handle) ?? DeviceHandle(role)
        name = try container.decode(String.self, forKey: .name)
        phys = try container.decode(String.self, forKey: .phys)
        sysname = try container.decode(String.self, forKey: .sysname)
        nodes = try container.decode([LeasedNode].self, forKey: .nodes)
        stableLink = try container.decodeIfPresent(String.self, forKey: .stableLink)
        plugged = try container.decodeIfPresent(Bool.self, forKey: .plugged) ?? true
    }
}

/// Where a lease stands.
public enum LeaseState: String, Codable, Sendable {
    /// Being created; a lease found in this state at start-up was interrupted and is undone.
    case creating
    /// Devices live, directories in place.
    case active
    /// The process that owned the devices ended (uinput devices die with their fd); the directories
    /// are kept for whatever still uses them until the lease is released.
    case devicesLost = "devices-lost"
    /// Being released; a lease found in this state at start-up finishes its release.
    case releasing
    /// A release left something behind (a directory it could not unmount or remove): the record
    /// keeps what is left and why (`releaseProblem`) until a later release, or start-up, removes it.
    case releaseFailed = "release-failed"
}

/// How udev dealt with a lease's devices before it was handed out.
public enum UdevReadiness: String, Codable, Sendable {
    /// udevd processed every node of every device (rules ran, symlinks exist).
    case initialized
    /// No udevd runs on this host: the nodes exist but no rules ran.
    case notRunning = "not-running"
}

/// Where a lease's session files live on the host: the session socket and the udev view that
/// the lease's containers see through bind mounts.
public struct SessionPaths: Codable, Hashable, Sendable {
    /// `<session root>/<FractalID>`: removed with the lease.
    public var directory: String
    /// `<directory>/socket`: bound into containers (at `/run/fractal` by default).
    public var socketDirectory: String
    /// `<socketDirectory>/input.sock`: the session socket (fd hand-off and injection).
    public var socketPath: String
    /// `<directory>/udev`: bound into containers at `/run/udev`; records of exactly the lease's devices.
    public var udevDirectory: String

    public init(root: String, id: FractalID) {
        directory = root + "/" + id.rawValue
        socketDirectory = directory + "/socket"
        socketPath = socketDirectory + "/input.sock"
        udevDirectory = directory + "/udev"
    }
}

/// Who asked for a lease, as the kernel reports the caller on the daemon's socket (SO_PEERCRED):
/// unlike anything the caller writes in its request, it cannot be made up.
public struct LeaseOwner: Codable, Hashable, Sendable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    /// The process that connected; it may have ended (and its number been reused) since.
    public var pid: Int32

    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    /// `uid=1000 gid=1000 pid=4242`.
    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)" }
    /// `uid=1000 pid=4242`, for tables.
    public var short: String { "uid=\(uid) pid=\(pid)" }
}

/// A FractalID's devices and directories, as the daemon tracks and reports them.
public struct Lease: Codable, Sendable {
    public var id: FractalID
    public var state: LeaseState
    public var devices: [LeasedDevice]
    public var directories: [ProvisionedDirectory]
    /// The paths the lease's directory templates resolve to, recorded before any is made, so that
    /// start-up can remove what a killed process made but had not yet recorded.
    public var plannedDirectories: [String] = []
    /// Who asked for it, as the kernel reported the API's caller; nil for leases made in-process
    /// (tests, benchmarks) and for those recorded before owners were.
    public var owner: LeaseOwner?
    /// The caller's own words about it (`task:<family>`, `devicectl`): shown, never trusted.
    public var note: String?
    public var createdAt: Date
    public var udev: UdevReadiness?
    /// What the session may send through its socket, and which fds it may take.
    public var policy: InputPolicy = .standard
    /// The session socket and udev view; nil when the daemon runs without a session root.
    public var session: SessionPaths?
    /// Whether the release under way keeps the directories (`keepDirs`): written before the
    /// release acts, so a release that start-up finishes keeps them too.
    public var keepDirectories: Bool = false
    /// Why the last release left something behind (each path and its error); nil unless `release-failed`.
    public var releaseProblem: String?

    public init(
        id: FractalID, state: LeaseState, devices: [LeasedDevice] = [], directories: [ProvisionedDirectory] = [],
        owner: LeaseOwner? = nil, note: String? = nil, createdAt: Date = Date(), udev: UdevReadiness? = nil,
        policy: InputPolicy = .standard, session: SessionPaths? = nil
    ) {
        self.id = id
        self.state = state
        self.devices = devices
        self.directories = directories
        self.owner = owner
        self.note = note
        self.createdAt = createdAt
        self.udev = udev
        self.policy = policy
        self.session = session
    }

    private enum CodingKeys: String, CodingKey {
        case id, state, devices, directories, plannedDirectories, owner, note, createdAt, udev, policy, session
        case keepDirectories, releaseProblem
    }

    /// Records written by earlier versions lack the later fields; they take their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(FractalID.self, forKey: .id)
        state = try container.decode(LeaseState.self, forKey: .state)
        devices = try container.decodeIfPresent([LeasedDevice].self, forKey: .devices) ?? []
        directories = try container.decodeIfPresent([ProvisionedDirectory].self, forKey: .directories) ?? []
        plannedDirectories = try container.decodeIfPresent([String].self, forKey: .plannedDirectories) ?? []
        // Before owners came from the kernel, `owner` held the caller's text: it is a note now.
        if let legacy = try? container.decodeIfPresent(String.self, forKey: .owner) {
            owner = nil
            note = legacy
        } else {
            owner = try container.decodeIfPresent(LeaseOwner.self, forKey: .owner)
            note = try container.decodeIfPresent(String.self, forKey: .note)
        }
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        udev = try container.decodeIfPresent(UdevReadiness.self, forKey: .udev)
        policy = try container.decodeIfPresent(InputPolicy.self, forKey: .policy) ?? .standard
        session = try container.decodeIfPresent(SessionPaths.self, forKey: .session)
        keepDirectories = try container.decodeIfPresent(Bool.self, forKey: .keepDirectories) ?? false
        releaseProblem = try container.decodeIfPresent(String.self, forKey: .releaseProblem)
    }

    /// Every path the lease holds or may hold: its directories and, while it is being made, the
    /// ones it planned. Another lease may not make a directory at, above or below any of them.
    public var claimedPaths: [String] {
        let recorded = directories.map(\.path)
        return recorded + plannedDirectories.filter { !recorded.contains($0) }
    }

    /// Every node of every device, in role order.
    public var nodes: [LeasedNode] { devices.flatMap(\.nodes) }
    /// The devices the session sees now.
    public var pluggedDevices: [LeasedDevice] { devices.filter(\.plugged) }

    /// A game controller's player number: its place among the lease's game controllers, 1 for
    /// the first; nil for other devices.
    public func player(of handle: DeviceHandle) -> Int? {
        Self.player(of: handle, among: devices.map(\.handle))
    }

    /// The player number `handle` has among `handles` (a lease's, in order).
    public static func player(of handle: DeviceHandle, among handles: [DeviceHandle]) -> Int? {
        guard handle.role.isGamepad, let index = handles.filter(\.role.isGamepad).firstIndex(of: handle) else { return nil }
        return index + 1
    }
}

/// What a caller asks for.
public struct LeaseRequest: Codable, Sendable {
    /// The ID to use; a fresh random one when nil.
    public var id: FractalID?
    /// The devices, in order. Game controllers may repeat (up to `DeviceHandle.maximumGamepads`
    /// in all): the second of a kind is `gamepad-2`, and so on; other roles may not.
    public var devices: [DeviceRole]
    public var directories: [DirectoryRequest]
    /// The caller as the kernel reported it; the daemon's API always sets it.
    public var owner: LeaseOwner?
    /// The caller's own words about the lease, kept as they are.
    public var note: String?
    /// What the session may send; the default filters host-acting keys.
    public var policy: InputPolicy
    /// Devices made now but left unplugged, to be plugged into the running session later: a
    /// container's device access is fixed when it is created, so hot-plug slots are made first.
    public var hotplug: [DeviceRole]

    /// The three devices the original gave each container.
    public static let defaultDevices: [DeviceRole] = [.keyboard, .mouse, .tablet]

    public init(
        id: FractalID? = nil, devices: [DeviceRole] = LeaseRequest.defaultDevices, directories: [DirectoryRequest] = [],
        owner: LeaseOwner? = nil, note: String? = nil, policy: InputPolicy = .standard, hotplug: [DeviceRole] = []
    ) {
        self.id = id
        self.devices = devices
        self.directories = directories
        self.owner = owner
        self.note = note
        self.policy = policy
        self.hotplug = hotplug
    }
}
