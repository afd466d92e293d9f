/// What a lease grants one container: its device nodes, its mounts, its environment and labels.
///
/// The one description every way a container gets a lease derives from: the agent's Docker
/// create body, the `docker run` flags the API reports, the CDI spec on disk and the kubelet's
/// Allocate answer. The container-side paths and names below are said here and nowhere else.
public struct ContainerGrant: Sendable, Equatable {
    /// A device node, mapped by path. Never a pattern: the grant names each node by its numbers.
    public struct Node: Sendable, Equatable, Hashable {
        /// The node on the host (`/dev/input/event7`).
        public var hostPath: String
        /// Where the node appears in the container; usually the same path.
        public var containerPath: String
        public var major: UInt32
        public var minor: UInt32
        /// Whether the node is made when the container starts; otherwise only its numbers are
        /// granted (a hot-plug slot: the node appears in a running container when it is plugged).
        public var present: Bool
        /// The udev rules' link to the node (`DeviceNode.stableLink`), when udevd ran them: a path that
        /// names this lease's device or nothing, for grants recorded and replayed later (a kubelet's).
        public var stableLink: String?

        /// Read, write and mknod: mknod lets hot-plug make the node inside a running container.
        public static let permissions = "rwm"

        public init(
            hostPath: String, containerPath: String? = nil, major: UInt32, minor: UInt32, present: Bool = true, stableLink: String? = nil
        ) {
            self.hostPath = hostPath
            self.containerPath = containerPath ?? hostPath
            self.major = major
            self.minor = minor
            self.present = present
            self.stableLink = stableLink
        }

        /// A leased node at the same path inside the container.
        public init(_ node: LeasedNode, present: Bool = true, stableLink: String? = nil) {
            self.init(hostPath: node.path, major: node.major, minor: node.minor, present: present, stableLink: stableLink)
        }

        /// `c MAJOR:MINOR rwm`: the device-cgroup rule for this node's numbers alone.
        public var cgroupRule: String { "c \(major):\(minor) \(Self.permissions)" }
    }

    /// A bind mount of a host directory.
    public struct Mount: Sendable, Equatable, Hashable {
        public var hostPath: String
        public var containerPath: String
        public var readOnly: Bool

        public init(hostPath: String, containerPath: String, readOnly: Bool) {
            self.hostPath = hostPath
            self.containerPath = containerPath
            self.readOnly = readOnly
        }
    }

    /// One environment variable.
    public struct Variable: Sendable, Equatable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }

        /// `NAME=value`, as Docker, OCI and the kubelet take it.
        public var assignment: String { "\(name)=\(value)" }
    }

    /// Where the session socket's directory appears in a container unless told otherwise.
    public static let defaultSessionDirectory = "/run/fractal"
    /// Where the lease's udev view appears: where libudev looks.
    public static let udevDirectory = "/run/udev"
    /// The session socket's name in its directory.
    public static let sessionSocketName = "input.sock"

    /// The environment variables fractal-agent sets in every container.
    public enum Environment {
        /// The session's FractalID.
        public static let fractalID = "FRACTAL_ID"
        /// Where the session socket is in the container (`/run/fractal/input.sock`).
        public static let sessionSocket = "FRACTAL_SESSION_SOCKET"
    }

    /// The container label carrying the session's FractalID: how containers are found again.
    public static let idLabel = "fractal.id"

    public var id: FractalID
    /// Every node, in the lease's device order; absent ones are hot-plug slots.
    public var nodes: [Node]
    /// The lease's directories (same path inside), then its session socket's directory and udev view (read-only).
    public var mounts: [Mount]
    public var environment: [Variable]
    public var labels: [String: String]

    /// What a container gets of session `id`.
    /// - Parameters:
    ///   - nodes: its device nodes; absent ones are hot-plug slots.
    ///   - directories: the lease directories bound at their own paths.
    ///   - session: the session's socket directory and udev view, bound read-only.
    ///   - sessionDirectory: where the socket's directory appears (a task's `fractal.session-dir`).
    public init(
        id: FractalID, nodes: [Node], directories: [String] = [], session: SessionPaths? = nil,
        sessionDirectory: String = defaultSessionDirectory
    ) {
        self.id = id
        self.nodes = nodes
        mounts = directories.map { Mount(hostPath: $0, containerPath: $0, readOnly: false) }
        environment = [Variable(Environment.fractalID, id.rawValue)]
        if let session {
            mounts += [
                Mount(hostPath: session.socketDirectory, containerPath: sessionDirectory, readOnly: true),
                Mount(hostPath: session.udevDirectory, containerPath: Self.udevDirectory, readOnly: true),
            ]
            environment.append(Variable(Environment.sessionSocket, sessionDirectory + "/" + Self.sessionSocketName))
        }
        labels = [Self.idLabel: id.rawValue]
    }

    /// What `lease` grants a container.
    /// - Parameters:
    ///   - roles: the devices the container gets (a task's container may take some of them); all when nil.
    ///   - directories: whether the lease's directories are bound at their own paths (a task binds
    ///     its volumes where its definition says instead).
    ///   - sessionDirectory: where the session socket's directory appears (a task's `fractal.session-dir`).
    public init(lease: Lease, roles: Set<DeviceRole>? = nil, directories: Bool = true, sessionDirectory: String = defaultSessionDirectory) {
        let linked = lease.udev == .initialized
        let nodes = lease.devices.filter { roles?.contains($0.role) ?? true }.flatMap { device in
            device.nodes.map { node in
                let kind = DeviceNode.Kind(rawValue: node.kind)
                let link = linked ? kind.map { DeviceNode.stableLink(id: lease.id, role: device.role, kind: $0, part: node.part) } : nil
                return Node(node, present: device.plugged, stableLink: link)
            }
        }
        self.init(
            id: lease.id, nodes: nodes, directories: directories ? lease.directories.map(\.path) : [], session: lease.session,
            sessionDirectory: sessionDirectory)
    }

    /// The nodes made when the container starts.
    public var presentNodes: [Node] { nodes.filter(\.present) }
    /// The hot-plug slots: numbers granted without a node.
    public var slotNodes: [Node] { nodes.filter { !$0.present } }

    /// `docker run` flags for exactly this grant: `--device` for every present node,
    /// `--device-cgroup-rule` for every slot, `-v` for every mount, `-e` and `--label`.
    public var dockerRunFlags: [String] {
        var flags: [String] = []
        for node in nodes {
            flags += node.present
                ? ["--device", "\(node.hostPath):\(node.containerPath):\(Node.permissions)"]
                : ["--device-cgroup-rule", node.cgroupRule]
        }
        for mount in mounts { flags += ["-v", "\(mount.hostPath):\(mount.containerPath)" + (mount.readOnly ? ":ro" : "")] }
        for variable in environment { flags += ["-e", variable.assignment] }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) { flags += ["--label", "\(key)=\(value)"] }
        return flags
    }
}
