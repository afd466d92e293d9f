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
        /// hidraw (`hidrawN`, in /dev itself): a HID device's raw reports, what Steam and SDL's
        /// HIDAPI read. Its major is dynamic, given at boot.
        case hidraw
    }

    public var kind: Kind
    /// The node's name under /dev/input and /sys/class/input, e.g. "event5" (or /dev and
    /// /sys/class/hidraw: "hidraw2").
    public var name: String
    /// Where devtmpfs puts the node: `/dev/input/<name>`, `/dev/<name>` for hidraw.
    public var path: String
    public var major: UInt32
    public var minor: UInt32

    public init(kind: Kind, name: String, major: UInt32, minor: UInt32) {
        self.kind = kind
        self.name = name
        self.path = kind == .hidraw ? "/dev/\(name)" : "/dev/input/\(name)"
        self.major = major
        self.minor = minor
    }

    public var description: String { "\(path) (\(kind.rawValue), \(major):\(minor))" }

    /// Where fractal-agent's udev rules link the nodes of a lease's devices.
    public static let stableLinkDirectory = "/dev/input/by-fractal-id"

    /// The link the udev rules make to the `kind` node of lease `id`'s device `handle`:
    /// `<directory>/<id>/<handle>` for its event node (`gamepad`, `gamepad-2`), `<role>-joystick`, `<role>-mouse` and
    /// `<role>-hidraw` for the others; a pad's other input devices add their `part`
    /// (`dualsense-motion`, `dualsense-touchpad-mouse`).
    /// It names the lease's own device or nothing: unlike `eventN`, it is never another lease's node.
    public static func stableLink(id: FractalID, handle: DeviceHandle, kind: Kind, part: DevicePart? = nil) -> String {
        let suffix = (part.map { "-" + $0.rawValue } ?? "") + (kind == .event ? "" : "-" + kind.rawValue)
        return "\(stableLinkDirectory)/\(id.rawValue)/\(handle)\(suffix)"
    }

    /// The link to the `kind` node of lease `id`'s first device of `role`.
    public static func stableLink(id: FractalID, role: DeviceRole, kind: Kind, part: DevicePart? = nil) -> String {
        stableLink(id: id, handle: DeviceHandle(role), kind: kind, part: part)
    }
}

/// Which of a HID pad's input devices a node belongs to, beside its main one (the gamepad):
/// hid-playstation and hid-nintendo register each sensor group as an input device of its own.
public enum DevicePart: String, Codable, Hashable, Sendable {
    /// Gyro and accelerometer (INPUT_PROP_ACCELEROMETER).
    case motion
    /// The DualSense's touchpad (INPUT_PROP_BUTTONPAD).
    case touchpad
}
