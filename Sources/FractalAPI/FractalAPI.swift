import DeviceManager
import Foundation

/// The version of the daemon's HTTP API; paths start with `/v1`.
public let fractalAPIVersion = "v1"

/// The daemon's default socket.
public let defaultSocketPath = "/run/fractal-agent/agent.sock"

/// `POST /v1/leases`.
public struct CreateLeaseRequest: Codable, Sendable {
    /// A caller-chosen FractalID; a random one when absent.
    public var id: String?
    /// Device roles (`keyboard`, `mouse`, `tablet`, `gamepad`, `touchscreen`, `pen`, `trackpad`); the default three when absent.
    public var devices: [String]?
    public var directories: [DirectoryRequest]?
    /// Free text about the lease, shown with it. Who asked is never taken from the request: the
    /// daemon records the caller's uid, gid and pid as the kernel reports them.
    public var note: String?
    /// `default`, `gamepad-only` or `trusted`: what the session socket lets through (docs/SESSION-PROTOCOL.md).
    public var policy: String?
    /// Device roles made unplugged, to be plugged in later (`POST /v1/leases/{id}/devices`).
    public var hotplug: [String]?

    public init(
        id: String? = nil, devices: [String]? = nil, directories: [DirectoryRequest]? = nil, note: String? = nil,
        policy: String? = nil, hotplug: [String]? = nil
    ) {
        self.id = id
        self.devices = devices
        self.directories = directories
        self.note = note
        self.policy = policy
        self.hotplug = hotplug
    }

    private enum CodingKeys: String, CodingKey { case id, devices, directories, note, owner, policy, hotplug }

    /// Earlier clients sent their note as `owner`: it is still taken, as a note.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        devices = try container.decodeIfPresent([String].self, forKey: .devices)
        directories = try container.decodeIfPresent([DirectoryRequest].self, forKey: .directories)
        note = try container.decodeIfPresent(String.self, forKey: .note) ?? container.decodeIfPresent(String.self, forKey: .owner)
        policy = try container.decodeIfPresent(String.self, forKey: .policy)
        hotplug = try container.decodeIfPresent([String].self, forKey: .hotplug)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encodeIfPresent(devices, forKey: .devices)
        try container.encodeIfPresent(directories, forKey: .directories)
        try container.encodeIfPresent(note, forKey: .note)
        try container.encodeIfPresent(policy, forKey: .policy)
        try container.encodeIfPresent(hotplug, forKey: .hotplug)
    }
}

/// `POST /v1/leases/{id}/devices`: plug a device into the running session.
public struct PlugRequest: Codable, Sendable {
    public var role: String

    public init(role: String) {
        self.role = role
    }
}

/// A lease as the API reports it: the stored lease plus what a container needs to use it.
public struct LeaseResponse: Codable, Sendable {
    public var id: FractalID
    public var state: LeaseState
    /// The caller that asked for the lease, as the kernel reported it (SO_PEERCRED).
    public var owner: LeaseOwner?
    /// The caller's own words about the lease (`task:<family>`, `devicectl`).
    public var note: String?
    public var createdAt: Date
    public var udev: UdevReadiness?
    public var devices: [LeasedDevice]
    public var directories: [ProvisionedDirectory]
    public var policy: InputPolicy
    /// The session socket and udev view on the host, when the daemon has a session root.
    public var session: SessionPaths?
    /// `docker run` flags that hand exactly this lease's nodes and directories to a container.
    public var dockerRunFlags: [String]
    /// The CDI device an engine takes for this lease (`podman run --device fractal.dev/input=<id>`),
    /// when the daemon writes CDI specs and the lease is active.
    public var cdiDevice: String?
    /// For a `release-failed` lease: what its release left behind, and why (paths and errors).
    public var releaseProblem: String?

    /// - Parameter cdi: whether the daemon writes CDI specs (`--cdi-dir`).
    public init(_ lease: Lease, cdi: Bool = false) {
        id = lease.id
        state = lease.state
        owner = lease.owner
        note = lease.note
        createdAt = lease.createdAt
        udev = lease.udev
        devices = lease.devices
        directories = lease.directories
        policy = lease.policy
        session = lease.session
        dockerRunFlags = ContainerGrant(lease: lease).dockerRunFlags
        cdiDevice = cdi && lease.state == .active ? CDISpec.qualifiedName(of: lease.id) : nil
        releaseProblem = lease.releaseProblem
    }
}

/// `POST /v1/leases/{id}/events`: raw events for one device (`{"type":1,"code":30,"value":1}`),
/// written with one `write(2)`.
public struct InjectRequest: Codable, Sendable {
    public var role: String
    public var events: [InputEvent]

    public init(role: String, events: [InputEvent]) {
        self.role = role
        self.events = events
    }
}

/// `DELETE /v1/leases/{id}` answers with what was released.
public struct ReleaseResponse: Codable, Sendable {
    public var id: FractalID
    public var devices: Int
    public var directoriesRemoved: [String]
    public var directoriesKept: [String]

    public init(id: FractalID, devices: Int, directoriesRemoved: [String], directoriesKept: [String]) {
        self.id = id
        self.devices = devices
        self.directoriesRemoved = directoriesRemoved
        self.directoriesKept = directoriesKept
    }
}

/// `GET /v1/version`.
public struct VersionResponse: Codable, Sendable {
    public var version: String
    public var gitHash: String
    public var apiVersion: String

    public init(version: String, gitHash: String, apiVersion: String = fractalAPIVersion) {
        self.version = version
        self.gitHash = gitHash
        self.apiVersion = apiVersion
    }
}

/// Every error body, as Docker's API has it.
public struct ErrorResponse: Codable, Sendable, Error {
    public var message: String
    public init(message: String) { self.message = message }
}

/// A task as the API reports it (`POST /v1/tasks`, `GET /v1/tasks`): the agent's own record.
public typealias TaskResponse = TaskRecord
