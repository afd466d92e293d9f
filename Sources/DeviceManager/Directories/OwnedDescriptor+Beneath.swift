import CFractalLinux
import FractalSystem
import Glibc
import SystemPackage

/// Directory descriptors that walk paths with openat2's rules, so nothing planted or raced in
/// can lead a session's directory outside its root.
extension OwnedDescriptor {
    /// Opens an absolute `path` with openat2's `resolve` rules.
    static func open(_ path: String, flags: Int32, resolve: Int32) throws(Errno) -> OwnedDescriptor {
        try openat2(AT_FDCWD, path, flags: flags, resolve: resolve)
    }

    /// Opens `relative` strictly beneath this directory: no `..`, no absolute path, no symbolic or
    /// magic link anywhere on the way, so nothing planted or raced in can lead elsewhere.
    /// `extraResolve` adds rules (e.g. `CFL_RESOLVE_NO_XDEV`).
    func openBeneath(_ relative: UnsafePointer<CChar>, flags: Int32, extraResolve: Int32 = 0) throws(Errno) -> OwnedDescriptor {
        try Self.openBeneath(relative, in: raw, flags: flags, extraResolve: extraResolve)
    }

    /// `openBeneath` from a directory descriptor held elsewhere (`raw` stays its holder's).
    static func openBeneath(_ relative: UnsafePointer<CChar>, in raw: Int32, flags: Int32, extraResolve: Int32 = 0) throws(Errno) -> OwnedDescriptor {
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
            guard error == .noSuchFileOrDirectory else { throw failure(error, "open", path) }
            return nil
        }
    }

    private static func openat2(_ directory: Int32, _ path: UnsafePointer<CChar>, flags: Int32, resolve: Int32) throws(Errno) -> OwnedDescriptor {
        let how = UInt64(UInt32(bitPattern: flags | O_CLOEXEC))
        // EAGAIN: the kernel saw a concurrent rename or mount and could not prove the walk safe; try again.
        for _ in 0..<16 {
            let result = cfl_openat2(directory, path, how, 0, UInt64(resolve))
            if result >= 0 { return OwnedDescriptor(adopting: result) }
            guard -result == EAGAIN else { throw Errno(rawValue: -result) }
        }
        throw .resourceTemporarilyUnavailable
    }

    /// Where `name` in this directory (or, for `""`, the directory itself) sits among the mounts.
    func mountPosition(of name: UnsafePointer<CChar>) throws(Errno) -> cfl_mount_position {
        var position = cfl_mount_position()
        let result = cfl_mount_position(raw, name, &position)
        guard result == 0 else { throw Errno(rawValue: -result) }
        return position
    }

    /// mkdirat(2) of `name` in this directory.
    func makeDirectory(_ name: UnsafePointer<CChar>, mode: mode_t) throws(Errno) {
        try checkedCall { mkdirat(raw, name, mode) }
    }

    /// unlinkat(2) of `name` in this directory (`AT_REMOVEDIR` for a directory).
    func unlink(_ name: UnsafePointer<CChar>, directory: Bool) throws(Errno) {
        try checkedCall { unlinkat(raw, name, directory ? AT_REMOVEDIR : 0) }
    }
}
