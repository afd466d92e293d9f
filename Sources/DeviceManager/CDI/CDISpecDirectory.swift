import Foundation
import FractalSystem

/// The directory CDI engines read specs from (`/var/run/cdi` by default), holding one spec per
/// active lease: `fractal.dev-input_<FractalID>.json`, the name CDI's own producer API gives a
/// transient spec. Writes are atomic (a hidden temporary file renamed over the spec), so an
/// engine never reads half a spec; nothing but our own files is ever touched.
public struct CDISpecDirectory: Sendable {
    /// Where CDI engines look for specs that live until the next boot, as a lease does.
    public static let standardPath = "/var/run/cdi"
    /// Where CDI engines look for specs an operator installed: never ours, but as much a grant of devices.
    public static let staticPath = "/etc/cdi"

    public let path: String

    public init(path: String) {
        self.path = path
    }

    private static let prefix = "fractal.dev-input_"
    private static let suffix = ".json"

    /// The spec file of lease `id`.
    public func file(of id: FractalID) -> String { path + "/" + Self.prefix + id.rawValue + Self.suffix }

    /// Writes `spec` as lease `id`'s file, replacing any earlier one at once.
    ///
    /// Only into a directory no one but this process's user can write: there, another user could
    /// swap a spec after it is written and grant any device to the next container that names it.
    public func write(_ spec: CDISpec, of id: FractalID) throws(SystemError) {
        let target = file(of: id)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(spec) } catch {
            throw SystemError(operation: "encode the CDI spec", path: target, errno: EINVAL, detail: "\(error)")
        }
        let directory = try openChecked()
        defer { close(directory) }
        // Hidden and not `.json`: engines scanning the directory skip it until it is renamed.
        let temporary = "." + Self.prefix + id.rawValue + ".tmp"
        unlinkat(directory, temporary, 0)
        // Readable by all, as /etc/cdi's files are: it names nodes and paths anyone can list, no secret.
        let fd = retryingInterrupts { openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw SystemError(operation: "create the CDI spec", path: path + "/" + temporary, errno: errno) }
        let written = data.withUnsafeBytes { bytes in retryingInterrupts { Glibc.write(fd, bytes.baseAddress, bytes.count) } }
        let writeErrno = errno
        fchmod(fd, 0o644)
        close(fd)
        guard written == data.count else {
            unlinkat(directory, temporary, 0)
            throw SystemError(operation: "write the CDI spec", path: path + "/" + temporary, errno: written < 0 ? writeErrno : EIO)
        }
        guard renameat(directory, temporary, directory, (target as NSString).lastPathComponent) == 0 else {
            let failure = SystemError(operation: "rename the CDI spec into place", path: target, errno: errno)
            unlinkat(directory, temporary, 0)
            throw failure
        }
    }

    /// The directory, opened, once it is known to be a directory only this process's user can write.
    private func openChecked() throws(SystemError) -> Int32 {
        let directory = retryingInterrupts { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard directory >= 0 else { throw SystemError(operation: "open the CDI spec directory", path: path, errno: errno) }
        var status = stat()
        guard fstat(directory, &status) == 0 else {
            let failure = SystemError(operation: "inspect the CDI spec directory", path: path, errno: errno)
            close(directory)
            throw failure
        }
        guard status.st_uid == geteuid(), status.st_mode & 0o022 == 0 else {
            close(directory)
            throw SystemError(
                operation: "use the CDI spec directory", path: path, errno: EPERM,
                detail: "it is writable by users other than the daemon's (owner uid \(status.st_uid), mode \(String(status.st_mode & 0o7777, radix: 8))): a spec there grants devices")
        }
        return directory
    }

    /// Removes lease `id`'s spec; a spec already gone is fine.
    public func remove(_ id: FractalID) throws(SystemError) {
        let target = file(of: id)
        guard unlink(target) == 0 || errno == ENOENT else { throw SystemError(operation: "remove the CDI spec", path: target, errno: errno) }
    }

    /// Removes every file of ours here but the specs of `kept`: specs of leases that ended while
    /// no daemon ran, and temporary files a crash left. Returns the files removed.
    @discardableResult
    public func removeAll(except kept: Set<FractalID>) -> [String] {
        // Only in a directory that is ours alone, as for writing: nothing else there is ours to remove.
        guard let directory = try? openChecked() else { return [] }
        defer { close(directory) }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        var removed: [String] = []
        for name in names {
            let stale: Bool
            if name.hasPrefix(Self.prefix), name.hasSuffix(Self.suffix) {
                let stem = String(name.dropFirst(Self.prefix.count).dropLast(Self.suffix.count))
                stale = (try? FractalID(stem)).map { !kept.contains($0) } ?? false
            } else {
                stale = name.hasPrefix("." + Self.prefix) && name.hasSuffix(".tmp")
            }
            if stale, unlinkat(directory, name, 0) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Checks that specs can be written: the directory exists, only this process's user can write it, and it can.
    public func checkWritable() throws(SystemError) {
        let directory = try openChecked()
        close(directory)
        guard access(path, W_OK | X_OK) == 0 else { throw SystemError(operation: "write in the CDI spec directory", path: path, errno: errno) }
    }
}
