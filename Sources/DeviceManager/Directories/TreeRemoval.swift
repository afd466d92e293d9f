import CFractalLinux
import Glibc

/// Removes a directory tree through descriptors only: every entry is opened beneath its parent
/// with no symbolic link followed and no mount entered, so the removal stays inside the tree
/// whatever is planted or raced into it.
enum TreeRemoval {
    /// Removes `name` in `parent` and everything in it. A symbolic link or file found there is
    /// unlinked itself (never what a link points to); a mount found inside stops the removal.
    static func remove(_ name: String, in parent: borrowing OwnedDescriptor, path: String) throws(DirectoryError) {
        try remove(Array(name.utf8CString), in: parent, path: path)
    }

    private static func remove(_ name: [CChar], in parent: borrowing OwnedDescriptor, path: String) throws(DirectoryError) {
        guard let directory = try openDirectory(name, in: parent, path: path) else { return }
        // Entries can appear while we work (a process still writing); go round a few times.
        for _ in 0..<4 {
            let entries = try names(in: directory, path: path)
            if entries.isEmpty { break }
            for entry in entries {
                let text = String(decoding: entry.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
                try remove(entry, in: directory, path: path + "/" + text)
            }
        }
        try unlink(name, in: parent, directory: true, path: path)
    }

    /// Opens `name` as a directory on the same mount, or, if it is gone or not a directory
    /// (O_DIRECTORY refuses before opening anything), unlinks the entry and returns `nil`.
    private static func openDirectory(_ name: [CChar], in parent: borrowing OwnedDescriptor, path: String) throws(DirectoryError) -> OwnedDescriptor? {
        do {
            return try parent.openBeneath(name, flags: O_RDONLY | O_DIRECTORY | O_NONBLOCK, extraResolve: CFL_RESOLVE_NO_XDEV)
        } catch {
            switch error.code {
            case ENOENT:
                return nil
            case ELOOP, ENOTDIR:
                try unlink(name, in: parent, directory: false, path: path)
                return nil
            case EXDEV:
                throw .foreignMount(path)
            default:
                throw failure(error, "open", path)
            }
        }
    }

    private static func unlink(_ name: [CChar], in parent: borrowing OwnedDescriptor, directory: Bool, path: String) throws(DirectoryError) {
        do { try parent.unlink(name, directory: directory) } catch {
            guard error.code == ENOENT else { throw failure(error, "remove", path) }
        }
    }

    /// The entries of `directory` but `.` and `..`, as NUL-terminated bytes: a name need not be UTF-8.
    private static func names(in directory: borrowing OwnedDescriptor, path: String) throws(DirectoryError) -> [[CChar]] {
        // fdopendir takes its descriptor over; give it a copy so `directory` stays ours.
        let copy = dup(directory.raw)
        guard copy >= 0 else { throw .system(operation: "dup", path: path, errno: errno) }
        guard let stream = fdopendir(copy) else {
            let code = errno
            close(copy)
            throw .system(operation: "open directory", path: path, errno: code)
        }
        defer { closedir(stream) }
        // The copy shares its offset with earlier passes; start from the top.
        rewinddir(stream)
        var names: [[CChar]] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                guard errno == 0 else { throw .system(operation: "read directory", path: path, errno: errno) }
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
