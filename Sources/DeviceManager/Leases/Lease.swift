import Foundation

/// One device node of a leased device, as recorded and reported.
public struct LeasedNode: Codable, Hashable, Sendable {
    /// `event`, `joystick` or `mouse`.
    public var kind: String
    /// `/dev/input/event5`.
    public var path: String
    public var major: UInt32
    public var minor: UInt32

    public init(kind: String, path: String, major: UInt32, minor: UInt32) {
        self.kind = kind
        self.path = path
        self.major = major
        self.minor = minor
    }

    init(_ node: DeviceNode) {
        self.init(kind: node.kind.rawValue, path: node.path, major: node.major, minor: node.minor)
    }
}

/// A device created for a lease.
public struct LeasedDevice: Codable, Hashable, Sendable {
    public var role: DeviceRole
    /// The name the kernel and every tool show (`Fractal Virtual Keyboard`).
    public var name: String
    /// `fractal/<FractalID>/<role>`: what the udev rules match on.
    public var phys: String
    /// The sysfs name of the input device (`input17`).
    public var sysname: String
    public var nodes: [LeasedNode]
    /// `/dev/input/by-fractal-id/<FractalID>/<role>` when the udev rules are installed and udevd ran them.
    public var stableLink: String?

    public init(role: DeviceRole, name: String, phys: String, sysname: String, nodes: [LeasedNode], stableLink: String? = nil) {
        self.role = role
        self.name = name
        self.phys = phys
        self.sysname = sysname
        self.nodes = nodes
        self.stableLink = stableLink
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
}

/// How udev dealt with a lease's devices before it was handed out.
public enum UdevReadiness: String, Codable, Sendable {
    /// udevd processed every node of every device (rules ran, symlinks exist).
    case initialized
    /// No udevd runs on this host: the nodes exist but no rules ran.
    case notRunning = "not-running"
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
    /// Who asked for it (a free-form note such as `task:<family>` or `devicectl uid=1000`).
    public var owner: String?
    public var createdAt: Date
    public var udev: UdevReadiness?

    public init(
        id: FractalID, state: LeaseState, devices: [LeasedDevice] = [], directories: [ProvisionedDirectory] = [],
        owner: String? = nil, createdAt: Date = Date(), udev: UdevReadiness? = nil
    ) {
        self.id = id
        self.state = state
        self.devices = devices
        self.directories = directories
        self.owner = owner
        self.createdAt = createdAt
        self.udev = udev
    }

    /// Every node of every device, in role order.
    public var nodes: [LeasedNode] { devices.flatMap(\.nodes) }
}

/// What a caller asks for.
public struct LeaseRequest: Codable, Sendable {
    /// The ID to use; a fresh random one when nil.
    public var id: FractalID?
    /// The devices, in order; duplicates are refused.
    public var devices: [DeviceRole]
    public var directories: [DirectoryRequest]
    public var owner: String?

    /// The three devices the original gave each container.
    public static let defaultDevices: [DeviceRole] = [.keyboard, .mouse, .tablet]

    public init(id: FractalID? = nil, devices: [DeviceRole] = LeaseRequest.defaultDevices, directories: [DirectoryRequest] = [], owner: String? = nil) {
        self.id = id
        self.devices = devices
        self.directories = directories
        self.owner = owner
    }
}
