import CFractalLinux
import Glibc

/// A failed system call's errno, before the caller gives it an operation and a path.
struct SystemCallError: Error {
    let code: Int32
}

/// A file descriptor this module opened: closed exactly once, when the value goes away.
struct OwnedDescriptor: ~Copyable {
    let raw: Int32

    init(adopting raw: Int32) { self.raw = raw }

    deinit { _ = close(raw) }

    /// Hands the descriptor over to the caller, who closes it.
    consuming func take() -> Int32 {
        let raw = raw
        discard self
        return raw
    }

    /// `/proc/self/fd/N`: names exactly the file this descriptor holds, for calls that take only
    /// paths (mount, umount2), so no path can be swapped under them.
    var procPath: String { "/proc/self/fd/\(raw)" }

    /// Opens an absolute `path` with openat2's `resolve` rules.
    static func open(_ path: String, flags: Int32, resolve: Int32) throws(SystemCallError) -> OwnedDescriptor {
        try openat2(AT_FDCWD, path, flags: flags, resolve: resolve)
    }

    /// Opens `relative` strictly beneath this directory: no `..`, no absolute path, no symbolic or
    /// magic link anywhere on the way, so nothing planted or raced in can lead elsewhere.
    /// `extraResolve` adds rules (e.g. `CFL_RESOLVE_NO_XDEV`).
    func openBeneath(_ relative: UnsafePointer<CChar>, flags: Int32, extraResolve: Int32 = 0) throws(SystemCallError) -> OwnedDescriptor {
        try Self.openBeneath(relative, in: raw, flags: flags, extraResolve: extraResolve)
    }

    /// `openBeneath` from a directory descriptor held elsewhere (`raw` stays its holder's).
    static func openBeneath(_ relative: UnsafePointer<CChar>, in raw: Int32, flags: Int32, extraResolve: Int32 = 0) throws(SystemCallError) -> OwnedDescriptor {
        let strict = CFL_RESOLVE_BENEATH | CFL_RESOLVE_NO_SYMLINKS | CFL_RESOLVE_NO_MAGICLINKS
        return try openat2(raw, relative, flags: flags, resolve: strict | extraResolve)
    }

    /// `openBeneath`, with a failure told as the error a person reads, naming `path`.
    func openBeneath(_ relative: UnsafePointer<CChar>, flags: Int32, path: String) throws(DirectoryError) -> OwnedDescriptor {
        do { return try openBeneath(relative, flags: flags) } catch { throw failure(error, "open", path) }
    }

    /// `openBeneath`, or `nil` if there is nothing at `relative`.
    func openBeneathIfPresent(_ relative: UnsafePointer<CChar>, flags: Int32, path: String) throws(DirectoryError) -> OwnedDescriptor? {
        do { return try openBeneath(relative, flags: flags) } catch {
            guard error.code == ENOENT else { throw failure(error, "open", path) }
            return nil
        }
    }

    private static func openat2(_ directory: Int32, _ path: UnsafePointer<CChar>, flags: Int32, resolve: Int32) throws(SystemCallError) -> OwnedDescriptor {
        let how = UInt64(UInt32(bitPattern: flags | O_CLOEXEC))
        // EAGAIN: the kernel saw a concurrent rename or mount and could not prove the walk safe; try again.
        for _ in 0..<16 {
            let result = cfl_openat2(directory, path, how, 0, UInt64(resolve))
            if result >= 0 { return OwnedDescriptor(adopting: result) }
            guard -result == EAGAIN else { throw SystemCallError(code: -result) }
        }
        throw SystemCallError(code: EAGAIN)
    }

    /// Where `name` in this directory (or, for `""`, the directory itself) sits among the mounts.
    func mountPosition(of name: UnsafePointer<CChar>) throws(SystemCallError) -> cfl_mount_position {
        var position = cfl_mount_position()
        let result = cfl_mount_position(raw, name, &position)
        guard result == 0 else { throw SystemCallError(code: -result) }
        return position
    }

    /// mkdirat(2) of `name` in this directory.
    func makeDirectory(_ name: UnsafePointer<CChar>, mode: mode_t) throws(SystemCallError) {
        try Self.check { mkdirat(raw, name, mode) }
    }

    /// unlinkat(2) of `name` in this directory (`AT_REMOVEDIR` for a directory).
    func unlink(_ name: UnsafePointer<CChar>, directory: Bool) throws(SystemCallError) {
        try Self.check { unlinkat(raw, name, directory ? AT_REMOVEDIR : 0) }
    }

    /// Runs a call that returns -1 and sets errno on failure, retrying on EINTR.
    static func check(_ call: () -> Int32) throws(SystemCallError) {
        while call() != 0 {
            let code = errno
            guard code == EINTR else { throw SystemCallError(code: code) }
        }
    }
}
