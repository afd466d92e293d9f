/// A character device the kernel made for a virtual input device, e.g. `/dev/input/event5`.
public struct DeviceNode: Hashable, Sendable, CustomStringConvertible {
    /// Which kernel input handler made the node.
    public enum Kind: String, Hashable, Sendable {
        /// evdev (`eventN`): every device has one; what libinput, SDL and games read.
        case event
        /// joydev (`jsN`): the old joystick interface, for joysticks and gamepads.
        case joystick
        /// mousedev (`mouseN`): the old PS/2-style mouse interface, for pointers.
        case mouse
    }

    public var kind: Kind
    /// The node's name under /dev/input and /sys/class/input, e.g. "event5".
    public var name: String
    /// Where devtmpfs puts the node: `/dev/input/<name>`.
    public var path: String
    public var major: UInt32
    public var minor: UInt32

    public init(kind: Kind, name: String, major: UInt32, minor: UInt32) {
        self.kind = kind
        self.name = name
        self.path = "/dev/input/\(name)"
        self.major = major
        self.minor = minor
    }

    public var description: String { "\(path) (\(kind.rawValue), \(major):\(minor))" }

    /// Where fractal-agent's udev rules link the nodes of a lease's devices.
    public static let stableLinkDirectory = "/dev/input/by-fractal-id"

    /// The link the udev rules make to the `kind` node of lease `id`'s device `role`:
    /// `<directory>/<id>/<role>` for its event node, `<role>-joystick` and `<role>-mouse` for the others.
    /// It names the lease's own device or nothing: unlike `eventN`, it is never another lease's node.
    public static func stableLink(id: FractalID, role: DeviceRole, kind: Kind) -> String {
        let suffix = kind == .event ? "" : "-" + kind.rawValue
        return "\(stableLinkDirectory)/\(id.rawValue)/\(role.rawValue)\(suffix)"
    }
}
