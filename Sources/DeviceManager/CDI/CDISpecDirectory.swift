import Foundation
import FractalSystem

/// The directory CDI engines read specs from (`/var/run/cdi` by default), holding one spec per
/// active lease: `fractal.dev-input_<FractalID>.json`, the name CDI's own producer API gives a
/// transient spec. Writes are atomic (a hidden temporary file renamed over the spec), so an
/// engine never reads half a spec; nothing but our own files is ever touched.
public struct CDISpecDirectory: Sendable {
    /// Where CDI engines look for specs that live until the next boot, as a lease does.
    public static let standardPath = "/var/run/cdi"

    public let path: String

    public init(path: String) {
        self.path = path
    }

    private static let prefix = "fractal.dev-input_"
    private static let suffix = ".json"

    /// The spec file of lease `id`.
    public func file(of id: FractalID) -> String { path + "/" + Self.prefix + id.rawValue + Self.suffix }

    /// Writes `spec` as lease `id`'s file, replacing any earlier one at once.
    public func write(_ spec: CDISpec, of id: FractalID) throws(SystemError) {
        let target = file(of: id)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(spec) } catch {
            throw SystemError(operation: "encode the CDI spec", path: target, errno: EINVAL, detail: "\(error)")
        }
        // Hidden and not `.json`: engines scanning the directory skip it until it is renamed.
        let temporary = path + "/." + Self.prefix + id.rawValue + ".tmp"
        let fd = retryingInterrupts { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw SystemError(operation: "create the CDI spec", path: temporary, errno: errno) }
        let written = data.withUnsafeBytes { bytes in retryingInterrupts { Glibc.write(fd, bytes.baseAddress, bytes.count) } }
        let writeErrno = errno
        // Readable by all, as /etc/cdi's files are: it names nodes and paths anyone can list, no secret.
        fchmod(fd, 0o644)
        close(fd)
        guard written == data.count else {
            unlink(temporary)
            throw SystemError(operation: "write the CDI spec", path: temporary, errno: written < 0 ? writeErrno : EIO)
        }
        guard rename(temporary, target) == 0 else {
            let failure = SystemError(operation: "rename the CDI spec into place", path: target, errno: errno)
            unlink(temporary)
            throw failure
        }
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
            if stale, unlink(path + "/" + name) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Checks that the directory exists and that this process can write specs in it.
    public func checkWritable() throws(SystemError) {
        var status = stat()
        guard stat(path, &status) == 0 else { throw SystemError(operation: "find the CDI spec directory", path: path, errno: errno) }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw SystemError(operation: "use the CDI spec directory", path: path, errno: ENOTDIR) }
        guard access(path, W_OK | X_OK) == 0 else { throw SystemError(operation: "write in the CDI spec directory", path: path, errno: errno) }
    }
}
