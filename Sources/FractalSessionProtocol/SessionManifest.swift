/// What WELCOME tells a client about its lease, as JSON: the devices in index order (the index
/// is what EVENTS and notifications name), their nodes and what each may send.
public struct SessionManifest: Codable, Hashable, Sendable {
    /// The lease's FractalID.
    public var lease: String
    /// `default`, `gamepad-only` or `trusted`.
    public var policy: String
    public var devices: [Device]

    public init(lease: String, policy: String, devices: [Device]) {
        self.lease = lease
        self.policy = policy
        self.devices = devices
    }

    public struct Device: Codable, Hashable, Sendable {
        public var index: Int
        /// `keyboard`, `mouse`, `tablet`, `gamepad`, `touchscreen`, `pen`, `trackpad`.
        public var role: String
        /// The name the kernel shows, e.g. "Fractal Virtual Keyboard".
        public var name: String
        public var nodes: [Node]
        /// The codes the device accepts, per event type (EV_ABS from `axes`); anything else is refused.
        public var capabilities: [Capability]
        /// The absolute axes and their ranges.
        public var axes: [Axis]
        /// False for a hot-plug slot not plugged in yet: it keeps its index, takes no events and
        /// hands off no fd until it is plugged.
        public var plugged: Bool
        /// How the lease names it (`gamepad`, `gamepad-2`): several game controllers share a role.
        /// Absent from daemons before 1.1.
        public var device: String?
        /// A game controller's player number in its lease, 1 for the first (a DualSense's and a
        /// Switch Pro's player LEDs show it); absent for other devices.
        public var player: Int?

        public init(
            index: Int, role: String, name: String, nodes: [Node], capabilities: [Capability], axes: [Axis], plugged: Bool = true,
            device: String? = nil, player: Int? = nil
        ) {
            self.index = index
            self.role = role
            self.name = name
            self.nodes = nodes
            self.capabilities = capabilities
            self.axes = axes
            self.plugged = plugged
            self.device = device
            self.player = player
        }
    }

    public struct Node: Codable, Hashable, Sendable {
        /// `event`, `joystick`, `mouse` or `hidraw`.
        public var kind: String
        public var path: String
        public var major: UInt32
        public var minor: UInt32

        public init(kind: String, path: String, major: UInt32, minor: UInt32) {
            self.kind = kind
            self.path = path
            self.major = major
            self.minor = minor
        }
    }

    public struct Capability: Codable, Hashable, Sendable {
        /// The event type's number, e.g. 1.
        public var type: UInt16
        /// Its kernel name, e.g. "EV_KEY".
        public var name: String
        public var codes: [UInt16]

        public init(type: UInt16, name: String, codes: [UInt16]) {
            self.type = type
            self.name = name
            self.codes = codes
        }
    }

    public struct Axis: Codable, Hashable, Sendable {
        public var code: UInt16
        public var minimum: Int32
        public var maximum: Int32

        public init(code: UInt16, minimum: Int32, maximum: Int32) {
            self.code = code
            self.minimum = minimum
            self.maximum = maximum
        }
    }
}

/// What FDS tells a client, as JSON: whose fds are attached, in order, and whose are withheld and why.
public struct SessionFDManifest: Codable, Hashable, Sendable {
    public var attached: [Attached]
    public var withheld: [Withheld]

    public init(attached: [Attached], withheld: [Withheld]) {
        self.attached = attached
        self.withheld = withheld
    }

    /// A device whose uinput fd is attached; the n-th entry is the n-th fd.
    public struct Attached: Codable, Hashable, Sendable {
        public var index: Int
        public var role: String

        public init(index: Int, role: String) {
            self.index = index
            self.role = role
        }
    }

    /// A device whose fd the policy keeps back.
    public struct Withheld: Codable, Hashable, Sendable {
        public var index: Int
        public var role: String
        public var reason: String

        public init(index: Int, role: String, reason: String) {
            self.index = index
            self.role = role
            self.reason = reason
        }
    }
}
