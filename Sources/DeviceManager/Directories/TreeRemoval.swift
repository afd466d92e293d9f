import CFractalLinux
import FractalSystem
import Glibc
import SystemPackage

/// Removes a directory tree through descriptors only: every entry is opened beneath its parent
/// with no symbolic link followed and no mount entered, so the removal stays inside the tree
/// whatever is planted or raced into it.
///
/// The walk is iterative, depth first, with an explicit stack: a session can make a tree far
/// deeper than the daemon has descriptors (3,000 levels take one `mkdir -p`), so at most
/// `openBound` directories of the stack are held open. A frame whose descriptor was let go is
/// reopened from the nearest open ancestor (or the tree's parent) by its names, beneath that
/// ancestor, again without links or mount crossings.
enum TreeRemoval {
    /// Directories of the stack held open at most (a few more descriptors come and go per step).
    static let openBound = 32

    /// Removes `name` in `parent` and everything in it. A symbolic link or file found there is
    /// unlinked itself (never what a link points to); a mount found inside stops the removal.
    static func remove(_ name: String, in parent: borrowing OwnedDescriptor, path: String) throws(DirectoryError) {
        var walk = Walk(base: parent, path: path)
        try walk.remove(Array(name.utf8CString))
    }

    /// One directory on the stack.
    private final class Frame {
        /// Its name in the frame below (or in the base, for the first), NUL-terminated.
        let name: [CChar]
        /// Its descriptor, or -1 while let go to keep within `openBound`.
        private(set) var raw: Int32
        /// Entries read but not yet removed.
        var pending: [[CChar]] = []
        /// How often its entries were read: entries can appear while we work (a process still
        /// writing), so a directory is read again, a few times, before it is removed.
        var passes = 0

        init(name: [CChar], directory: consuming OwnedDescriptor) {
            self.name = name
            raw = directory.take()
        }

        deinit { letGo() }

        var isOpen: Bool { raw >= 0 }

        func adopt(_ directory: consuming OwnedDescriptor) {
            letGo()
            raw = directory.take()
        }

        func letGo() {
            if raw >= 0 { close(raw) }
            raw = -1
        }
    }

    private struct Walk: ~Copyable {
        let base: Int32
        /// The tree's own path, for messages; deeper paths are spelled out only for an error
        /// (a path per frame would take memory quadratic in the depth).
        let basePath: String
        var stack: [Frame] = []
        /// Frames `lowestOpen ..< stack.count` are open, the rest let go.
        var lowestOpen = 0

        init(base: borrowing OwnedDescriptor, path: String) {
            self.base = base.raw
            basePath = path
        }

        /// The path of frame `index`, or of `entry` in it.
        func path(of index: Int, entry: [CChar]? = nil) -> String {
            let names = (index >= 1 ? stack[1...index].map(\.name) : []) + (entry.map { [$0] } ?? [])
            return ([basePath] + names.map { String(decoding: $0.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) })
                .joined(separator: "/")
        }

        mutating func remove(_ name: [CChar]) throws(DirectoryError) {
            guard let first = try Self.openDirectory(name, in: base, path: basePath) else { return }
            stack = [Frame(name: name, directory: first)]
            lowestOpen = 0
            while let top = stack.last {
                try reopen(upTo: stack.count - 1)
                guard stack.last === top else { continue }  // The frame vanished while let go.
                if top.pending.isEmpty && top.passes < 4 {
                    top.pending = try Self.names(in: top.raw, path: path(of: stack.count - 1))
                    top.passes += 1
                    // Removed in the order read (popped from the end).
                    top.pending.reverse()
                }
                if let entry = top.pending.popLast() {
                    if let child = try Self.openDirectory(entry, in: top.raw, path: path(of: stack.count - 1, entry: entry)) {
                        stack.append(Frame(name: entry, directory: child))
                        trim()
                    }
                    continue
                }
                // Empty (or as empty as it gets): let it go, then unlink it from the frame below.
                top.letGo()
                stack.removeLast()
                lowestOpen = min(lowestOpen, stack.count)
                if stack.isEmpty {
                    try Self.unlink(top.name, in: base, directory: true, path: basePath)
                } else {
                    let below = stack[stack.count - 1]
                    try reopen(upTo: stack.count - 1)
                    // Gone or replaced while let go: its own next pass sees what is there now.
                    guard stack.last === below, below.isOpen else { continue }
                    try Self.unlink(top.name, in: below.raw, directory: true, path: path(of: stack.count - 1, entry: top.name))
                }
            }
        }

        /// Lets go of the lowest open frames until at most `openBound` are open.
        private mutating func trim() {
            while stack.count - lowestOpen > TreeRemoval.openBound {
                stack[lowestOpen].letGo()
                lowestOpen += 1
            }
        }

        /// Makes frame `index` open again (with up to `openBound` frames below it), walking by
        /// name from the nearest open frame below, or from the base. A frame found gone or
        /// replaced by a non-directory is dropped with everything above it: its parent's next
        /// pass deals with whatever is there now.
        private mutating func reopen(upTo index: Int) throws(DirectoryError) {
            guard index >= 0, !stack[index].isOpen else { return }
            // Nothing at or below `index` is open (open frames are a run at the top).
            let first = max(0, index + 1 - TreeRemoval.openBound)
            // Jump to frame `first` in as few calls as fit in PATH_MAX, through no descriptor we keep.
            var anchor: Int32 = -1
            defer { if anchor >= 0 { close(anchor) } }
            var position = 0
            while position < first {
                var relative: [CChar] = []
                var end = position
                while end < first, relative.count + stack[end].name.count < Int(PATH_MAX) - 1 {
                    if !relative.isEmpty { relative.append(CChar(UInt8(ascii: "/"))) }
                    relative += stack[end].name.dropLast()
                    end += 1
                }
                if end == position {  // One name alone too long to join (cannot happen: NAME_MAX).
                    relative = Array(stack[end].name.dropLast())
                    end += 1
                }
                relative.append(0)
                guard let next = try open(relative, in: anchor >= 0 ? anchor : base, index: end - 1) else { return }
                if anchor >= 0 { close(anchor) }
                anchor = next.take()
                position = end
            }
            for frameIndex in first...index {
                let from = frameIndex == 0 ? base : (frameIndex == first ? anchor : stack[frameIndex - 1].raw)
                guard let next = try open(stack[frameIndex].name, in: from, index: frameIndex) else { return }
                stack[frameIndex].adopt(next)
            }
            lowestOpen = first
        }

        /// Opens frame `index`'s directory by `relative` beneath `from`; on a frame gone or
        /// replaced, drops it and the frames above it and returns nil.
        private mutating func open(_ relative: [CChar], in from: Int32, index: Int) throws(DirectoryError) -> OwnedDescriptor? {
            do {
                return try OwnedDescriptor.openBeneath(
                    relative, in: from, flags: O_RDONLY | O_DIRECTORY | O_NONBLOCK, extraResolve: CFL_RESOLVE_NO_XDEV)
            } catch {
                switch error.rawValue {
                case ENOENT, ENOTDIR, ELOOP:
                    for frame in stack[index...] { frame.letGo() }
                    stack.removeSubrange(index...)
                    lowestOpen = min(lowestOpen, stack.count)
                    return nil
                case EXDEV:
                    throw .foreignMount(path(of: index))
                default:
                    throw failure(error, "open", path(of: index))
                }
            }
        }

        /// Opens `name` as a directory on the same mount, or, if it is gone or not a directory
        /// (O_DIRECTORY refuses before opening anything), unlinks the entry and returns `nil`.
        private static func openDirectory(
            _ name: [CChar], in parent: Int32, path: @autoclosure () -> String
        ) throws(DirectoryError) -> OwnedDescriptor? {
            do {
                return try OwnedDescriptor.openBeneath(
                    name, in: parent, flags: O_RDONLY | O_DIRECTORY | O_NONBLOCK, extraResolve: CFL_RESOLVE_NO_XDEV)
            } catch {
                switch error.rawValue {
                case ENOENT:
                    return nil
                case ELOOP, ENOTDIR:
                    try unlink(name, in: parent, directory: false, path: path())
                    return nil
                case EXDEV:
                    throw .foreignMount(path())
                default:
                    throw failure(error, "open", path())
                }
            }
        }

        private static func unlink(_ name: [CChar], in parent: Int32, directory: Bool, path: @autoclosure () -> String) throws(DirectoryError) {
            do { try checkedCall { unlinkat(parent, name, directory ? AT_REMOVEDIR : 0) } } catch {
                guard error.rawValue == ENOENT else { throw failure(error, "remove", path()) }
            }
        }

        /// The entries of `directory` but `.` and `..`, as NUL-terminated bytes: a name need not be UTF-8.
        private static func names(in directory: Int32, path: @autoclosure () -> String) throws(DirectoryError) -> [[CChar]] {
            // fdopendir takes its descriptor over; give it a copy so `directory` stays ours.
            let copy = dup(directory)
            guard copy >= 0 else { throw .system(operation: "dup", path: path(), errno: errno) }
            guard let stream = fdopendir(copy) else {
                let code = errno
                close(copy)
                throw .system(operation: "open directory", path: path(), errno: code)
            }
            defer { closedir(stream) }
            // The copy shares its offset with earlier passes; start from the top.
            rewinddir(stream)
            var names: [[CChar]] = []
            while true {
                errno = 0
                guard let entry = readdir(stream) else {
                    guard errno == 0 else { throw .system(operation: "read directory", path: path(), errno: errno) }
                    return names
                }
                let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                    bytes.prefix { $0 != 0 }.map { CChar(bitPattern: $0) } + [0]
                }
                if name == [46, 0] || name == [46, 46, 0] { continue }
                names.append(name)
            }
        }
    }
}
