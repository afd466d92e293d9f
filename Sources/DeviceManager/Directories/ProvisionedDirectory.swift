/// A directory the provisioner made for a session: enough to undo exactly that, and nothing
/// else, later (even from another process, after a restart: it is what the lease stores).
public struct ProvisionedDirectory: Sendable, Equatable, Codable {
    /// The session it was made for.
    public var id: FractalID
    /// The directory's absolute, normalized path.
    public var path: String
    /// The allowed root it lies below.
    public var root: String
    /// The directories between `root` and `path` that the provisioner created (outermost
    /// first), so release removes these, if empty, and never a directory that was already there.
    public var createdIntermediates: [String]
    /// What the provisioner mounted on `path`, if anything.
    public var mount: ProvisionedMount?
    /// Whether release leaves the directory in place by default.
    public var keep: Bool

    /// A record from its fields; `DirectoryProvisioner.release` checks it before acting on it.
    public init(id: FractalID, path: String, root: String, createdIntermediates: [String], mount: ProvisionedMount?, keep: Bool) {
        self.id = id
        self.path = path
        self.root = root
        self.createdIntermediates = createdIntermediates
        self.mount = mount
        self.keep = keep
    }
}

/// A mount the provisioner made on a session directory.
public struct ProvisionedMount: Sendable, Equatable, Codable {
    /// The kind of mount.
    public enum Kind: String, Sendable, Codable {
        case tmpfs
        case bind
    }

    /// The kind of mount.
    public var kind: Kind
    /// Where it is mounted: the session directory.
    public var target: String
    /// What a bind mount shows (its source directory); `nil` for a tmpfs.
    public var source: String?

    /// A record of one mount.
    public init(kind: Kind, target: String, source: String?) {
        self.kind = kind
        self.target = target
        self.source = source
    }
}
