import CFractalLinux
import FractalSystem
import Glibc
import SystemPackage

/// Makes and removes per-session directories below a fixed set of allowed roots.
///
/// Paths are resolved one component at a time with openat2(2) beneath an allowed root and
/// without following any symbolic link, so a link planted (or raced in) anywhere on the way
/// is refused rather than followed out of the root. Everything a failed `provision` made is
/// undone before it throws, and `release` removes exactly what `provision` recorded.
///
/// Needs Linux 5.8 or later; mounts need root (CAP_SYS_ADMIN). Holds no state of its own:
/// what it made is in the `ProvisionedDirectory` it returns, which the caller keeps.
public struct DirectoryProvisioner: Sendable {
    /// The normalized allowed roots.
    public let allowedRoots: [String]
    /// The caps on a tmpfs directory.
    public let limits: DirectoryLimits
    private let roots: [LexicalPath]

    /// Mode of the directories made between a root and a session directory: traversable by
    /// all, so the session's owner can reach a leaf it owns, and writable only by the agent.
    static let intermediateMode: mode_t = 0o755

    /// Checks each root: absolute, existing, a real directory, with no symbolic link anywhere
    /// in its path (configure the directory a link points to instead).
    public init(allowedRoots: [String], limits: DirectoryLimits = DirectoryLimits()) throws(DirectoryError) {
        guard !allowedRoots.isEmpty else { throw .invalidRoot("", reason: "no allowed roots are configured") }
        if let problem = limits.problem { throw .invalidRequest("(the daemon's directory limits)", reason: problem) }
        self.limits = limits
        var roots: [LexicalPath] = []
        for root in allowedRoots {
            let path: LexicalPath
            do {
                path = try LexicalPath(root, naming: root)
            } catch {
                throw .invalidRoot(root, reason: "it must be an absolute path without '.' or '..' components")
            }
            var info = stat()
            guard lstat(path.string, &info) == 0 else {
                let code = errno
                throw .invalidRoot(root, reason: code == ENOENT ? "it does not exist" : "\(Errno(rawValue: code))")
            }
            guard info.st_mode & S_IFMT != S_IFLNK else {
                throw .invalidRoot(root, reason: "it is a symbolic link: configure the directory it points to")
            }
            guard info.st_mode & S_IFMT == S_IFDIR else { throw .invalidRoot(root, reason: "it is not a directory") }
            guard let resolved = realpath(path.string, nil) else {
                throw .invalidRoot(root, reason: "\(Errno(rawValue: errno))")
            }
            let canonical = String(cString: resolved)
            free(resolved)
            guard canonical == path.string else {
                throw .invalidRoot(root, reason: "a directory above it is a symbolic link: configure '\(canonical)'")
            }
            roots.append(path)
        }
        self.roots = roots
        self.allowedRoots = roots.map(\.string)
    }

    /// Where `template` puts `id`'s directory, checked without touching the filesystem:
    /// a placeholder, an absolute path, no `.`/`..`, strictly below an allowed root.
    public func path(for template: String, id: FractalID) throws(DirectoryError) -> String {
        try locate(template: template, id: id).path.string
    }

    /// Makes `id`'s directory for `request`: the missing directories on the way (mode 0755),
    /// the directory itself with the requested mode and owner, and the requested mount.
    ///
    /// A directory that already exists is refused, unless `existing` is this session's record
    /// of it (after a restart, say): then it is taken over, and a missing mount is made again.
    /// On failure nothing this call made is left behind.
    public func provision(
        _ request: DirectoryRequest, for id: FractalID, adopting existing: ProvisionedDirectory? = nil
    ) throws(DirectoryError) -> ProvisionedDirectory {
        try request.validate()
        if case .tmpfs = request.mount { _ = try limits.tmpfsCaps(for: request) }
        let target = try locate(template: request.template, id: id)
        if let existing {
            guard existing.id == id, existing.path == target.path.string, existing.root == target.root.string else {
                throw .invalidRecord(
                    existing.path,
                    reason: "it was made for \(existing.id) at \(existing.path), not for \(id) at \(target.path.string)")
            }
        }
        var footprint = Footprint(target: target, createdIntermediates: [], leafCreated: false, mounted: false)
        do throws(DirectoryError) {
            let mount = try make(request, for: id, at: target, adopting: existing != nil, footprint: &footprint)
            return ProvisionedDirectory(
                id: id, path: target.path.string, root: target.root.string,
                createdIntermediates: merged(existing?.createdIntermediates ?? [], footprint.createdIntermediates.map(\.string)),
                mount: mount, keep: request.keep)
        } catch {
            // The first error is the one worth reporting; undoing is best effort.
            try? teardown(footprint, removeDirectory: true)
            throw error
        }
    }

    /// `earlier` then the new entries of `later`: a directory re-made after a restart is listed once.
    private func merged(_ earlier: [String], _ later: [String]) -> [String] {
        earlier + later.filter { !earlier.contains($0) }
    }

    /// Undoes `directory`: unmounts what was mounted on it (detaching lazily if it is busy),
    /// then, unless kept, removes it and everything in it (never following a symbolic link,
    /// never entering another mount) and the directories `provision` created above it, if empty.
    ///
    /// `keep` overrides the record's own `keep`. Releasing again, or releasing a directory that
    /// is already gone, succeeds. The record is checked against the allowed roots first, so a
    /// tampered record cannot aim the removal elsewhere.
    public func release(_ directory: ProvisionedDirectory, keep: Bool? = nil) throws(DirectoryError) {
        let path = try LexicalPath(directory.path, naming: directory.path)
        let target = try place(path)
        guard target.root.string == directory.root else {
            throw .invalidRecord(directory.path, reason: "it names root '\(directory.root)', but the path lies below '\(target.root.string)'")
        }
        if let mount = directory.mount, mount.target != path.string {
            throw .invalidRecord(directory.path, reason: "its mount is on '\(mount.target)', not on the directory")
        }
        var intermediates: [LexicalPath] = []
        for text in directory.createdIntermediates {
            let intermediate = try LexicalPath(text, naming: text)
            guard path.isStrictlyBelow(intermediate), intermediate.isStrictlyBelow(target.root) else {
                throw .invalidRecord(directory.path, reason: "'\(text)' is not between its root and the directory")
            }
            intermediates.append(intermediate)
        }
        let footprint = Footprint(
            target: target, createdIntermediates: intermediates, leafCreated: true, mounted: directory.mount != nil)
        try teardown(footprint, removeDirectory: !(keep ?? directory.keep))
    }

    // MARK: - Resolution

    /// A session directory's path, split at the allowed root it lies below.
    struct Target {
        let root: LexicalPath
        let path: LexicalPath
        var leafName: String { path.components[path.components.count - 1] }
    }

    /// What a provision has made so far: what teardown may undo.
    struct Footprint {
        let target: Target
        var createdIntermediates: [LexicalPath]
        var leafCreated: Bool
        var mounted: Bool
    }

    private func locate(template: String, id: FractalID) throws(DirectoryError) -> Target {
        _ = try LexicalPath(template, naming: template)
        guard Placeholder.containsPlaceholder(template) else { throw .noPlaceholder(template) }
        return try place(LexicalPath(Placeholder.substitute(template, id: id), naming: template))
    }

    /// The deepest allowed root that `path` lies strictly below.
    private func place(_ path: LexicalPath) throws(DirectoryError) -> Target {
        let candidates = roots.filter { path.isStrictlyBelow($0) }
        guard let root = candidates.max(by: { $0.components.count < $1.components.count }) else {
            throw .outsideAllowedRoots(path.string, roots: allowedRoots)
        }
        return Target(root: root, path: path)
    }

    // MARK: - Making

    private func make(
        _ request: DirectoryRequest, for id: FractalID, at target: Target, adopting: Bool, footprint: inout Footprint
    ) throws(DirectoryError) -> ProvisionedMount? {
        let root = try openRoot(target.root)
        let path = target.path.string
        let name = target.leafName
        var restarts = 0
        while true {
            let parent = try walk(
                from: root, along: target.path, depth: target.path.components.count - 1,
                rootDepth: target.root.components.count, create: true, created: &footprint.createdIntermediates)
            do {
                try parent.makeDirectory(name, mode: 0o700)
                footprint.leafCreated = true
            } catch {
                switch error.rawValue {
                case EEXIST where adopting:
                    break
                case EEXIST:
                    throw .alreadyExists(path)
                case ENOENT where restarts < Self.restartLimit:
                    // The parent was removed (a sibling session's release) since the walk: walk again.
                    restarts += 1
                    continue
                default:
                    throw failure(error, "create directory", path)
                }
            }
            return try finish(request, for: id, in: parent, named: name, path: path, adopting: adopting, footprint: &footprint)
        }
    }

    /// How often a walk starts over when a concurrent release removes (or another provision
    /// makes) a directory under it; past that, the error is reported.
    static let restartLimit = 16

    /// Sets the new directory's owner and mode, and mounts on it.
    private func finish(
        _ request: DirectoryRequest, for id: FractalID, in parent: borrowing OwnedDescriptor, named name: String, path: String,
        adopting: Bool, footprint: inout Footprint
    ) throws(DirectoryError) -> ProvisionedMount? {
        let position: cfl_mount_position
        do { position = try parent.mountPosition(of: name) } catch { throw failure(error, "statx", path) }
        if adopting && position.is_mount_root != 0 {
            // Taken over with its mount in place: changing the mode now would change the mount's
            // root (for a bind mount, the source directory), not the directory underneath.
            return mountRecord(request, id: id, path: path)
        }
        let leaf = try parent.openBeneath(name, flags: O_RDONLY | O_DIRECTORY, path: path)
        if request.owner != nil || request.group != nil {
            // Owner before mode: chown(2) clears the set-user/group-ID bits the mode may ask for.
            do {
                try checkedCall { fchown(leaf.raw, request.owner ?? UInt32.max, request.group ?? UInt32.max) }
            } catch { throw failure(error, "chown", path) }
        }
        do { try checkedCall { fchmod(leaf.raw, mode_t(request.mode)) } } catch { throw failure(error, "chmod", path) }
        try attachMount(request, for: id, on: leaf, named: name, in: parent, path: path, footprint: &footprint)
        return mountRecord(request, id: id, path: path)
    }

    private func mountRecord(_ request: DirectoryRequest, id: FractalID, path: String) -> ProvisionedMount? {
        switch request.mount {
        case .none: return nil
        case .tmpfs: return ProvisionedMount(kind: .tmpfs, target: path, source: nil)
        case .bind(let source): return ProvisionedMount(kind: .bind, target: path, source: Placeholder.substitute(source, id: id))
        }
    }

    /// Opens an allowed root, refusing one that has become a symbolic link since `init`.
    private func openRoot(_ root: LexicalPath) throws(DirectoryError) -> OwnedDescriptor {
        guard let descriptor = try openRoot(root, ifPresent: false) else {
            throw .invalidRoot(root.string, reason: "it no longer exists")
        }
        return descriptor
    }

    private func openRoot(_ root: LexicalPath, ifPresent: Bool) throws(DirectoryError) -> OwnedDescriptor? {
        do {
            return try OwnedDescriptor.open(
                root.string, flags: CFL_O_PATH | O_DIRECTORY,
                resolve: CFL_RESOLVE_NO_SYMLINKS | CFL_RESOLVE_NO_MAGICLINKS)
        } catch {
            switch error.rawValue {
            case ELOOP: throw .invalidRoot(root.string, reason: "it, or a directory above it, has become a symbolic link")
            case ENOENT where ifPresent: return nil
            case ENOENT: throw .invalidRoot(root.string, reason: "it no longer exists")
            default: throw failure(error, "open", root.string)
            }
        }
    }

    /// Opens the directory `depth` components down `path`, one component at a time beneath the
    /// root, so each is checked for links on its own. With `create`, makes the missing ones and
    /// appends them to `created`; without, a missing one throws `.system(_, _, ENOENT)`.
    private func walk(
        from root: borrowing OwnedDescriptor, along path: LexicalPath, depth: Int, rootDepth: Int,
        create: Bool, created: inout [LexicalPath]
    ) throws(DirectoryError) -> OwnedDescriptor {
        var current = try root.openBeneath(".", flags: CFL_O_PATH | O_DIRECTORY, path: path.prefix(rootDepth).string)
        var index = rootDepth
        var restarts = 0
        while index < depth {
            let name = path.components[index]
            let here = path.prefix(index + 1).string
            if let next = try current.openBeneathIfPresent(name, flags: CFL_O_PATH | O_DIRECTORY, path: here) {
                current = next
                index += 1
                continue
            }
            guard create else { throw .system(operation: "open", path: here, errno: ENOENT) }
            do {
                try current.makeDirectory(name, mode: Self.intermediateMode)
            } catch {
                switch error.rawValue {
                case EEXIST where restarts < Self.restartLimit:
                    // Made by someone else since the open above: use theirs, and leave it on release.
                    restarts += 1
                    continue
                case ENOENT where restarts < Self.restartLimit:
                    // The directory we stand in was removed (a sibling session's release) since we
                    // opened it: start again from the root.
                    restarts += 1
                    current = try root.openBeneath(".", flags: CFL_O_PATH | O_DIRECTORY, path: path.prefix(rootDepth).string)
                    index = rootDepth
                    continue
                default:
                    throw failure(error, "create directory", here)
                }
            }
            // After a restart the same directory may be made (by us) a second time.
            if !created.contains(path.prefix(index + 1)) { created.append(path.prefix(index + 1)) }
            // Opened for reading, not O_PATH: fchmod needs a real open file.
            let next = try current.openBeneath(name, flags: O_RDONLY | O_DIRECTORY, path: here)
            // mkdir's mode is cut by the umask; set it outright.
            do { try checkedCall { fchmod(next.raw, Self.intermediateMode) } } catch {
                throw failure(error, "chmod", here)
            }
            current = next
            index += 1
        }
        return current
    }

    /// `walk` that makes nothing, or `nil` if a directory on the way is gone.
    private func openIfPresent(
        from root: borrowing OwnedDescriptor, along path: LexicalPath, depth: Int, rootDepth: Int
    ) throws(DirectoryError) -> OwnedDescriptor? {
        var none: [LexicalPath] = []
        do {
            return try walk(from: root, along: path, depth: depth, rootDepth: rootDepth, create: false, created: &none)
        } catch {
            guard case .system(let failure) = error, failure.errno == .noSuchFileOrDirectory else { throw error }
            return nil
        }
    }

    // MARK: - Mounting

    private func attachMount(
        _ request: DirectoryRequest, for id: FractalID, on leaf: borrowing OwnedDescriptor, named name: String,
        in parent: borrowing OwnedDescriptor, path: String, footprint: inout Footprint
    ) throws(DirectoryError) {
        var flags: UInt = 0
        if request.noSuid { flags |= UInt(MS_NOSUID) }
        if request.noDev { flags |= UInt(MS_NODEV) }
        if request.noExec { flags |= UInt(MS_NOEXEC) }
        if request.readOnly { flags |= UInt(MS_RDONLY) }
        // Each mount goes onto /proc/self/fd/N of the directory already opened beneath the root,
        // so the target cannot be swapped for a symbolic link between check and mount.
        switch request.mount {
        case .none:
            return
        case .tmpfs:
            let caps = try limits.tmpfsCaps(for: request)
            var options = "size=\(caps.sizeBytes),nr_inodes=\(caps.inodes),mode=0\(String(request.mode, radix: 8))"
            if let owner = request.owner { options += ",uid=\(owner)" }
            if let group = request.group { options += ",gid=\(group)" }
            // The source names the session in /proc/self/mountinfo, for people and for reconcile.
            try systemMount("fractal-\(id.rawValue)", leaf.procPath, "tmpfs", flags, options, operation: "mount tmpfs on", path: path)
            footprint.mounted = true
        case .bind(let sourceTemplate):
            let source = Placeholder.substitute(sourceTemplate, id: id)
            // No symbolic links on the way: a link in a directory the session can write to
            // would otherwise let it choose what gets mounted.
            let sourceDirectory = try openBindSource(source)
            // Not MS_REC: mounts below the source stay out of the session's view.
            try systemMount(sourceDirectory.procPath, leaf.procPath, nil, UInt(MS_BIND), nil, operation: "bind-mount '\(source)' on", path: path)
            footprint.mounted = true
        }
        // Open the new mount itself (the walk through the parent enters it) to change it: the
        // first call cannot set propagation, and a bind ignores flags until it is remounted.
        let mounted = try parent.openBeneath(name, flags: CFL_O_PATH | O_DIRECTORY, path: path)
        // Private: nothing mounted inside it later shows up elsewhere, nor the other way round.
        try systemMount(nil, mounted.procPath, nil, UInt(MS_PRIVATE), nil, operation: "make private the mount on", path: path)
        if case .bind = request.mount {
            try systemMount(
                nil, mounted.procPath, nil, UInt(MS_REMOUNT) | UInt(MS_BIND) | flags, nil,
                operation: "set flags on the bind mount on", path: path)
        }
    }

    private func openBindSource(_ source: String) throws(DirectoryError) -> OwnedDescriptor {
        do {
            return try OwnedDescriptor.open(
                source, flags: CFL_O_PATH | O_DIRECTORY,
                resolve: CFL_RESOLVE_NO_SYMLINKS | CFL_RESOLVE_NO_MAGICLINKS)
        } catch { throw failure(error, "open bind source", source) }
    }

    private func systemMount(
        _ source: String?, _ target: String, _ type: String?, _ flags: UInt, _ options: String?, operation: String, path: String
    ) throws(DirectoryError) {
        let result = mount(source, target, type, flags, options)
        guard result == 0 else { throw .system(operation: operation, path: path, errno: errno) }
    }

    // MARK: - Undoing

    /// Unmounts (if `footprint` mounted), then removes the leaf (if it was made) and the
    /// created intermediates; each step treats "already gone" as done.
    private func teardown(_ footprint: Footprint, removeDirectory: Bool) throws(DirectoryError) {
        let target = footprint.target
        // A root that is gone took everything below it along.
        guard let root = try openRoot(target.root, ifPresent: true) else { return }
        let path = target.path.string
        let leafName = target.leafName
        if let parent = try openIfPresent(
            from: root, along: target.path, depth: target.path.components.count - 1,
            rootDepth: target.root.components.count)
        {
            try unmount(leafName, in: parent, path: path, expected: footprint.mounted)
            if removeDirectory && footprint.leafCreated {
                try TreeRemoval.remove(leafName, in: parent, path: path)
            }
        }
        guard removeDirectory else { return }
        // Deepest first; one still in use (not empty) ends it, as its parents are in use too.
        for intermediate in footprint.createdIntermediates.sorted(by: { $0.components.count > $1.components.count }) {
            let depth = intermediate.components.count
            guard let parent = try openIfPresent(from: root, along: intermediate, depth: depth - 1, rootDepth: target.root.components.count) else {
                continue
            }
            do {
                try parent.unlink(intermediate.components[depth - 1], directory: true)
            } catch {
                switch error.rawValue {
                case ENOENT: continue
                case ENOTEMPTY, EEXIST, EBUSY, ENOTDIR: return
                default: throw failure(error, "remove directory", intermediate.string)
                }
            }
        }
    }

    /// Unmounts what is mounted on `name` in `parent`, if it is expected there; refuses a mount
    /// that is not (removing its contents would remove someone else's files).
    private func unmount(_ name: String, in parent: borrowing OwnedDescriptor, path: String, expected: Bool) throws(DirectoryError) {
        let position: cfl_mount_position
        do { position = try parent.mountPosition(of: name) } catch {
            guard error.rawValue == ENOENT else { throw failure(error, "statx", path) }
            return
        }
        guard position.is_mount_root != 0 else { return }
        guard expected else { throw .foreignMount(path) }
        // Through the parent's descriptor: a descriptor inside the mount would itself keep it busy.
        let target = "\(parent.procPath)/\(name)"
        do {
            try checkedCall { umount2(target, Int32(UMOUNT_NOFOLLOW)) }
        } catch {
            switch error.rawValue {
            case EINVAL:
                break  // No longer a mount point: someone else unmounted it meanwhile.
            case EBUSY:
                // Still in use (an open file, a working directory): detach it from the tree now;
                // the kernel frees it when the last user lets go.
                do { try checkedCall { umount2(target, Int32(UMOUNT_NOFOLLOW) | Int32(MNT_DETACH)) } } catch {
                    throw failure(error, "unmount (detach)", path)
                }
            default:
                throw failure(error, "unmount", path)
            }
        }
        let after: cfl_mount_position
        do { after = try parent.mountPosition(of: name) } catch { throw failure(error, "statx", path) }
        // Another mount stacked under ours is not ours to remove.
        guard after.is_mount_root == 0 else { throw .foreignMount(path) }
    }
}

/// A system call's errno as the error a person reads.
func failure(_ error: Errno, _ operation: String, _ path: String) -> DirectoryError {
    switch error.rawValue {
    // ELOOP: RESOLVE_NO_SYMLINKS met a link; EXDEV: RESOLVE_BENEATH saw an escape, only possible through one.
    case ELOOP, EXDEV: return .symlinkInPath(path)
    case ENOTDIR: return .notADirectory(path)
    default: return .system(operation: operation, path: path, errno: error.rawValue)
    }
}
