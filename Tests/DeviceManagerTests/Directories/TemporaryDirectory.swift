import DeviceManager
import Foundation

/// A fresh directory under /tmp for one test, removed with everything in it afterwards.
final class TemporaryDirectory {
    /// Its absolute path (no symbolic links in it).
    let path: String

    init(in parent: String = "/tmp") throws {
        var template = Array((parent + "/fractal-dirs-test.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        path = String(cString: made)
    }

    deinit {
        // Unmount anything a failed test left, so the removal cannot reach through a bind mount.
        if let table = try? MountTable.current() {
            for entry in table.mounts(under: path) { umount2(entry.mountPoint, Int32(MNT_DETACH)) }
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Makes a directory (and its parents) below this one; returns its path.
    @discardableResult
    func makeDirectory(_ relative: String, mode: Int = 0o755) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        return full
    }

    /// Writes a file below this one; returns its path.
    @discardableResult
    func write(_ relative: String, _ text: String = "data") throws -> String {
        let full = path + "/" + relative
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
        return full
    }

    /// Every path below this one, relative and sorted: to show that nothing else changed.
    func listing() -> [String] {
        (FileManager.default.subpaths(atPath: path) ?? []).sorted()
    }
}

/// lstat(2): what is at `path` itself, never following a symbolic link.
func fileStatus(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

func exists(_ path: String) -> Bool { fileStatus(path) != nil }
