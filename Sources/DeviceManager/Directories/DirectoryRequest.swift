/// What, if anything, is mounted on a session directory.
public enum DirectoryMount: Sendable, Equatable, Codable {
    /// A plain directory on the filesystem it is made in, with no cap: a session can fill that
    /// filesystem (and the state database, if it shares it). Only on the operator's explicit
    /// request (`plain`), at the operator's risk.
    case none
    /// A fresh tmpfs capped at `sizeBytes` bytes and `inodes` files, so one session cannot fill
    /// the host's disk or memory; `nil` takes the daemon's default (`DirectoryLimits`). The default.
    case tmpfs(sizeBytes: UInt64? = nil, inodes: UInt64? = nil)
    /// A bind mount of the directory `source` (an absolute path, which may hold the placeholder
    /// and must be reached without symbolic links). Capped only by what holds the source.
    case bind(source: String)

    /// A tmpfs with the daemon's default size and inode caps: what a request gets unless it says otherwise.
    public static let capped = DirectoryMount.tmpfs()

    private enum CodingKeys: String, CodingKey { case type, sizeBytes, inodes, source }

    /// JSON: `{"type": "none"}` (plain), `{"type": "tmpfs"}` or `{"type": "tmpfs", "sizeBytes": 67108864, "inodes": 4096}`,
    /// `{"type": "bind", "source": "/srv/x"}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "none": self = .none
        case "tmpfs":
            self = .tmpfs(
                sizeBytes: try container.decodeIfPresent(UInt64.self, forKey: .sizeBytes),
                inodes: try container.decodeIfPresent(UInt64.self, forKey: .inodes))
        case "bind": self = .bind(source: try container.decode(String.self, forKey: .source))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "unknown mount type '\(other)': use none, tmpfs or bind")
        }
    }

    /// Encodes in the form `init(from:)` reads.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .none:
            try container.encode("none", forKey: .type)
        case .tmpfs(let sizeBytes, let inodes):
            try container.encode("tmpfs", forKey: .type)
            try container.encodeIfPresent(sizeBytes, forKey: .sizeBytes)
            try container.encodeIfPresent(inodes, forKey: .inodes)
        case .bind(let source):
            try container.encode("bind", forKey: .type)
            try container.encode(source, forKey: .source)
        }
    }
}

/// One directory a session asks for: where (a template holding the placeholder), with what
/// mode and owner, what to mount there, and whether it outlives the session.
public struct DirectoryRequest: Sendable, Equatable, Codable {
    /// An absolute path holding `%%FRACTAL_ID_PLACEHOLDER%%` (or its older name).
    public var template: String
    /// Permission bits for the directory (and a tmpfs root): at most `0o7777`.
    public var mode: UInt32
    /// The owning user ID; `nil` leaves it to the agent's user.
    public var owner: UInt32?
    /// The owning group ID; `nil` leaves it to the agent's group.
    public var group: UInt32?
    /// What to mount on the directory; a tmpfs with the daemon's caps unless said otherwise.
    public var mount: DirectoryMount
    /// Mount read-only. Needs a mount.
    public var readOnly: Bool
    /// Mount with `noexec`. Needs a mount.
    public var noExec: Bool
    /// Mount with `nosuid` (on by default; ignored without a mount).
    public var noSuid: Bool
    /// Mount with `nodev` (on by default; ignored without a mount).
    public var noDev: Bool
    /// Leave the directory (not the mount, and so not a tmpfs's files) in place when the session ends.
    public var keep: Bool

    /// The mode used when none is given.
    public static let defaultMode: UInt32 = 0o750

    /// `parse`'s syntax in one line, for help texts and messages. Without a mount option the
    /// directory is a tmpfs with the daemon's caps; `plain` is uncapped, at the operator's risk.
    public static let syntax = "TEMPLATE[,tmpfs=SIZE][,inodes=COUNT]|[,plain]|[,bind=SOURCE][,mode=OCTAL][,owner=UID[:GID]][,group=GID][,ro][,noexec][,suid][,dev][,keep]"

    /// A request with the defaults of the spec syntax: mode 0750, the agent's owner, a tmpfs
    /// with the daemon's caps, `nosuid,nodev`, removed on release.
    public init(
        template: String, mode: UInt32 = DirectoryRequest.defaultMode, owner: UInt32? = nil, group: UInt32? = nil,
        mount: DirectoryMount = .capped, readOnly: Bool = false, noExec: Bool = false,
        noSuid: Bool = true, noDev: Bool = true, keep: Bool = false
    ) {
        self.template = template
        self.mode = mode
        self.owner = owner
        self.group = group
        self.mount = mount
        self.readOnly = readOnly
        self.noExec = noExec
        self.noSuid = noSuid
        self.noDev = noDev
        self.keep = keep
    }

    private enum CodingKeys: String, CodingKey {
        case template, mode, owner, group, mount, readOnly, noExec, noSuid, noDev, keep
    }

    /// Decodes JSON in which only `template` is required; absent fields take the defaults.
    /// `mode` is a number (JSON has no octal: 488 is 0o750) or an octal string such as `"0750"`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var mode = Self.defaultMode
        if let text = try? container.decodeIfPresent(String.self, forKey: .mode) {
            guard Self.isDigits(text), let octal = UInt32(text, radix: 8) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .mode, in: container, debugDescription: "mode '\(text)' is not octal permission bits such as \"0750\"")
            }
            mode = octal
        } else if let number = try container.decodeIfPresent(UInt32.self, forKey: .mode) {
            mode = number
        }
        self.init(
            template: try container.decode(String.self, forKey: .template),
            mode: mode,
            owner: try container.decodeIfPresent(UInt32.self, forKey: .owner),
            group: try container.decodeIfPresent(UInt32.self, forKey: .group),
            mount: try container.decodeIfPresent(DirectoryMount.self, forKey: .mount) ?? .capped,
            readOnly: try container.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false,
            noExec: try container.decodeIfPresent(Bool.self, forKey: .noExec) ?? false,
            noSuid: try container.decodeIfPresent(Bool.self, forKey: .noSuid) ?? true,
            noDev: try container.decodeIfPresent(Bool.self, forKey: .noDev) ?? true,
            keep: try container.decodeIfPresent(Bool.self, forKey: .keep) ?? false)
    }

    /// Checks what can be checked without the filesystem: the template is absolute, has a
    /// placeholder and no `.`/`..`; a bind source is absolute without `.`/`..`; the mode fits;
    /// a tmpfs's caps, when given, are above zero; `ro` and `noexec` come with a mount (without
    /// one they would promise a protection nothing enforces). The caps' maximums are the
    /// provisioner's to check (`DirectoryLimits`).
    public func validate() throws(DirectoryError) {
        _ = try LexicalPath(template, naming: template)
        guard Placeholder.containsPlaceholder(template) else { throw .noPlaceholder(template) }
        // The command-line form ends a path at its first comma: a JSON request says the same.
        guard !template.contains(",") else { throw .invalidRequest(template, reason: "a directory's path may not hold a comma") }
        guard mode <= 0o7777 else {
            throw .invalidRequest(template, reason: "mode 0\(String(mode, radix: 8)) has bits above 07777")
        }
        switch mount {
        case .none:
            if readOnly || noExec {
                throw .invalidRequest(template, reason: "'ro' and 'noexec' need a mount: leave out 'plain', or add bind=SOURCE")
            }
        case .tmpfs(let sizeBytes, let inodes):
            // tmpfs reads size=0 and nr_inodes=0 as "no limit", the opposite of what a cap is for.
            guard sizeBytes != 0 else { throw .invalidRequest(template, reason: "a tmpfs needs a size above zero") }
            guard inodes != 0 else { throw .invalidRequest(template, reason: "a tmpfs needs an inode count above zero") }
        case .bind(let source):
            _ = try LexicalPath(source, naming: source)
            guard !source.contains(",") else { throw .invalidRequest(template, reason: "a bind source may not hold a comma") }
        }
    }

    /// Parses the command-line form of a request:
    ///
    ///     TEMPLATE[,OPTION]...
    ///
    /// `TEMPLATE` is an absolute path holding `%%FRACTAL_ID_PLACEHOLDER%%`; it runs to the first
    /// comma, so it cannot itself hold one. Without a mount option the directory is a tmpfs with
    /// the daemon's size and inode caps (`--directory-size`, `--directory-inodes`). Each `OPTION` is one of:
    ///
    /// - `tmpfs=SIZE`: cap the tmpfs at `SIZE` bytes instead; `SIZE` is digits with an optional
    ///   `K`, `M` or `G` suffix (powers of 1024, either case), e.g. `64M`; at most the daemon's
    ///   `--directory-max-size`.
    /// - `inodes=COUNT`: cap the tmpfs at `COUNT` files and directories instead (at most `--directory-max-inodes`).
    /// - `plain`: no tmpfs, a plain directory on the filesystem it is made in, with no cap: the
    ///   session can fill that filesystem. At the operator's own risk.
    /// - `bind=SOURCE`: bind-mount the directory `SOURCE` (absolute; may hold the placeholder).
    /// - `mode=OCTAL`: permission bits, e.g. `0750` or `750` (default `0750`).
    /// - `owner=UID` or `owner=UID:GID`, `group=GID`: numeric IDs (default: the agent's).
    /// - `ro` / `rw`: mount read-only / read-write (default `rw`; `ro` needs a mount).
    /// - `noexec` / `exec`: forbid / allow executing from the mount (default `exec`; `noexec` needs a mount).
    /// - `suid` / `nosuid`, `dev` / `nodev`: honour set-user-ID bits / device files (default `nosuid`, `nodev`).
    /// - `keep`: leave the directory in place when the session ends (mounts are still undone, so
    ///   a tmpfs's files go with it: data that must outlive the session wants `plain` or `bind=`).
    ///
    /// `tmpfs`, `plain` and `bind` exclude each other, and `inodes` goes only with a tmpfs; no
    /// option may be given twice, nor with its opposite.
    /// Example: `/srv/fractal/%%FRACTAL_ID_PLACEHOLDER%%/cache,tmpfs=64M,mode=0700,owner=1000:1000,noexec`.
    public static func parse(_ spec: String) throws(DirectoryError) -> DirectoryRequest {
        let parts = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let template = parts.first, !template.isEmpty else {
            throw .invalidSpec(spec, reason: "it does not start with a directory template")
        }
        var request = DirectoryRequest(template: template)
        var seen: Set<String> = []
        // `inodes` may come before or after `tmpfs=`, but not with `plain` or `bind`.
        var inodes: UInt64?
        var inodesAllowed = true
        func once(_ key: String, _ group: String) throws(DirectoryError) {
            guard seen.insert(group).inserted else {
                throw .invalidSpec(spec, reason: "'\(key)' repeats or contradicts an earlier option")
            }
        }
        for option in parts.dropFirst() {
            let key: String
            let value: String?
            if let equals = option.firstIndex(of: "=") {
                key = String(option[..<equals])
                value = String(option[option.index(after: equals)...])
            } else {
                key = option
                value = nil
            }
            func required() throws(DirectoryError) -> String {
                guard let value, !value.isEmpty else { throw .invalidSpec(spec, reason: "'\(key)' needs a value: \(key)=...") }
                return value
            }
            func flag() throws(DirectoryError) {
                guard value == nil else { throw .invalidSpec(spec, reason: "'\(key)' takes no value") }
            }
            switch key {
            case "tmpfs":
                try once(key, "mount")
                inodesAllowed = true
                request.mount = .tmpfs(sizeBytes: try parseSize(try required(), spec: spec), inodes: inodes)
            case "inodes":
                try once(key, "inodes")
                let text = try required()
                guard isDigits(text), let count = UInt64(text), count > 0 else {
                    throw .invalidSpec(spec, reason: "inodes '\(text)' is not a positive number")
                }
                guard inodesAllowed else { throw .invalidSpec(spec, reason: "'inodes' caps a tmpfs; it does not go with 'plain' or 'bind'") }
                inodes = count
                if case .tmpfs(let sizeBytes, _) = request.mount { request.mount = .tmpfs(sizeBytes: sizeBytes, inodes: count) }
            case "plain":
                try flag(); try once(key, "mount")
                guard inodes == nil else { throw .invalidSpec(spec, reason: "'inodes' caps a tmpfs; it does not go with 'plain' or 'bind'") }
                inodesAllowed = false
                request.mount = .none
            case "bind":
                try once(key, "mount")
                guard inodes == nil else { throw .invalidSpec(spec, reason: "'inodes' caps a tmpfs; it does not go with 'plain' or 'bind'") }
                inodesAllowed = false
                request.mount = .bind(source: try required())
            case "mode":
                try once(key, "mode")
                let text = try required()
                guard isDigits(text), let mode = UInt32(text, radix: 8), mode <= 0o7777 else {
                    throw .invalidSpec(spec, reason: "mode '\(text)' is not octal permission bits such as 0750")
                }
                request.mode = mode
            case "owner":
                try once(key, "owner")
                let text = try required()
                let ids = text.split(separator: ":", omittingEmptySubsequences: false)
                guard ids.count <= 2, let uid = parseID(ids[0]), ids.count == 1 || parseID(ids[1]) != nil else {
                    throw .invalidSpec(spec, reason: "owner '\(text)' is not UID or UID:GID (numbers)")
                }
                request.owner = uid
                if ids.count == 2 {
                    try once("owner=UID:GID", "group")
                    request.group = parseID(ids[1])
                }
            case "group":
                try once(key, "group")
                let text = try required()
                guard let gid = parseID(Substring(text)) else {
                    throw .invalidSpec(spec, reason: "group '\(text)' is not a number")
                }
                request.group = gid
            case "ro", "rw":
                try flag(); try once(key, "ro")
                request.readOnly = key == "ro"
            case "noexec", "exec":
                try flag(); try once(key, "exec")
                request.noExec = key == "noexec"
            case "nosuid", "suid":
                try flag(); try once(key, "suid")
                request.noSuid = key == "nosuid"
            case "nodev", "dev":
                try flag(); try once(key, "dev")
                request.noDev = key == "nodev"
            case "keep":
                try flag(); try once(key, "keep")
                request.keep = true
            case "":
                throw .invalidSpec(spec, reason: "it has an empty option (two commas, or a trailing one)")
            default:
                throw .invalidSpec(spec, reason: "unknown option '\(key)'")
            }
        }
        try request.validate()
        return request
    }

    /// The request in `parse`'s syntax, defaults left out; `parse(request.spec) == request`.
    public var spec: String {
        var parts = [template]
        switch mount {
        case .none: parts.append("plain")
        case .tmpfs(let sizeBytes, let inodes):
            if let sizeBytes { parts.append("tmpfs=\(Self.formatSize(sizeBytes))") }
            if let inodes { parts.append("inodes=\(inodes)") }
        case .bind(let source): parts.append("bind=\(source)")
        }
        if mode != Self.defaultMode { parts.append("mode=0" + String(mode, radix: 8)) }
        if let owner { parts.append("owner=\(owner)") }
        if let group { parts.append("group=\(group)") }
        if readOnly { parts.append("ro") }
        if noExec { parts.append("noexec") }
        if !noSuid { parts.append("suid") }
        if !noDev { parts.append("dev") }
        if keep { parts.append("keep") }
        return parts.joined(separator: ",")
    }

    private static let sizeUnits: [(suffix: Character, shift: UInt64)] = [("G", 30), ("M", 20), ("K", 10)]

    static func parseSize(_ text: String, spec: String) throws(DirectoryError) -> UInt64 {
        var digits = Substring(text)
        var shift: UInt64 = 0
        if let last = digits.last, let unit = sizeUnits.first(where: { String($0.suffix) == last.uppercased() }) {
            shift = unit.shift
            digits = digits.dropLast()
        }
        guard isDigits(digits), let number = UInt64(digits), number > 0 else {
            throw .invalidSpec(spec, reason: "tmpfs size '\(text)' is not a positive number of bytes with an optional K, M or G")
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw .invalidSpec(spec, reason: "tmpfs size '\(text)' is too large") }
        return bytes
    }

    /// `64M` for 64 MiB: the size in `parse`'s syntax, for messages and `spec`.
    static func formatSize(_ bytes: UInt64) -> String {
        for unit in sizeUnits where bytes % (1 << unit.shift) == 0 {
            return "\(bytes >> unit.shift)\(unit.suffix)"
        }
        return "\(bytes)"
    }

    private static func parseID(_ text: Substring) -> UInt32? {
        // (uid_t)-1 means "leave unchanged" to chown(2); it is not an ID anyone can own.
        guard isDigits(text), let id = UInt32(text), id != UInt32.max else { return nil }
        return id
    }

    /// Only ASCII digits: the integer initializers would also take a sign.
    private static func isDigits(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
