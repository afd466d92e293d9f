import FractalSystem
import Glibc

/// One line of `/proc/self/mountinfo` (see proc(5)), with its octal escapes decoded.
public struct MountEntry: Sendable, Equatable {
    /// The mount's unique ID.
    public var mountID: Int
    /// The ID of the mount it is mounted on.
    public var parentID: Int
    /// The device, as `major:minor`.
    public var device: String
    /// The directory of the filesystem shown at the mount point (not `/` for a bind mount of a subdirectory).
    public var root: String
    /// Where it is mounted, relative to this process's root.
    public var mountPoint: String
    /// Per-mount options, e.g. `["rw", "nosuid", "nodev"]`.
    public var options: [String]
    /// Propagation tags, e.g. `["shared:1"]`; empty for a private mount.
    public var propagation: [String]
    /// The filesystem type, e.g. `tmpfs`.
    public var fileSystemType: String
    /// The mount source (a device, or a name such as `fractal-<ID>` for our tmpfs mounts).
    public var source: String
    /// Per-superblock options, e.g. `["rw", "size=65536k", "mode=750"]`.
    public var superOptions: [String]

    /// An entry from its fields, already unescaped.
    public init(
        mountID: Int, parentID: Int, device: String, root: String, mountPoint: String, options: [String],
        propagation: [String], fileSystemType: String, source: String, superOptions: [String]
    ) {
        self.mountID = mountID
        self.parentID = parentID
        self.device = device
        self.root = root
        self.mountPoint = mountPoint
        self.options = options
        self.propagation = propagation
        self.fileSystemType = fileSystemType
        self.source = source
        self.superOptions = superOptions
    }
}

/// A snapshot of this process's mounts, to tell mount points apart and to find mounts left
/// under a directory (say, by a lease whose process died).
public struct MountTable: Sendable, Equatable {
    /// The mounts, in the kernel's order (a mount comes after the one it is mounted on).
    public var entries: [MountEntry]

    /// Parses the text of a `/proc/<pid>/mountinfo` file.
    public init(parsing mountinfo: String) throws(DirectoryError) {
        var entries: [MountEntry] = []
        for line in mountinfo.utf8.split(separator: UInt8(ascii: "\n")) {
            entries.append(try Self.parse(line: Array(line)))
        }
        self.entries = entries
    }

    /// Reads this process's mounts from `/proc/self/mountinfo`.
    public static func current() throws(DirectoryError) -> MountTable {
        let path = "/proc/self/mountinfo"
        let opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        let file = OwnedDescriptor(adopting: opened)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = retryingInterrupts { buffer.withUnsafeMutableBytes { read(file.raw, $0.baseAddress, $0.count) } }
            guard count >= 0 else { throw .system(operation: "read", path: path, errno: errno) }
            if count == 0 { break }
            bytes += buffer.prefix(count)
        }
        return try MountTable(parsing: String(decoding: bytes, as: UTF8.self))
    }

    /// Whether something is mounted at `path` (an absolute path, compared after removing
    /// repeated and trailing slashes; symbolic links are not resolved).
    public func isMountPoint(_ path: String) -> Bool {
        let path = Self.normalize(path)
        return entries.contains { $0.mountPoint == path }
    }

    /// The mounts at or below `prefix`, latest first: the order in which to unmount them, as a
    /// later mount may sit on (or inside) an earlier one.
    public func mounts(under prefix: String) -> [MountEntry] {
        let prefix = Self.normalize(prefix)
        let below = prefix == "/" ? "/" : prefix + "/"
        return entries.filter { $0.mountPoint == prefix || $0.mountPoint.hasPrefix(below) }.reversed()
    }

    private static func normalize(_ path: String) -> String {
        "/" + path.split(separator: "/").joined(separator: "/")
    }

    /// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`:
    /// six fields, any number of propagation tags, `-`, then three more.
    private static func parse(line: [UInt8]) throws(DirectoryError) -> MountEntry {
        let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        let text = String(decoding: line, as: UTF8.self)
        guard let separator = fields.firstIndex(where: { $0.elementsEqual([UInt8(ascii: "-")]) }),
            separator >= 6, fields.count - separator - 1 >= 3,
            let mountID = Int(String(decoding: fields[0], as: UTF8.self)),
            let parentID = Int(String(decoding: fields[1], as: UTF8.self))
        else {
            throw .system(operation: "parse a mountinfo line '\(text)' from", path: "/proc/self/mountinfo", errno: EINVAL)
        }
        func field(_ index: Int) -> String { unescape(fields[index]) }
        return MountEntry(
            mountID: mountID, parentID: parentID, device: field(2), root: field(3), mountPoint: field(4),
            options: field(5).split(separator: ",").map(String.init),
            propagation: (6..<separator).map(field),
            fileSystemType: field(separator + 1), source: field(separator + 2),
            superOptions: field(separator + 3).split(separator: ",").map(String.init))
    }

    /// Decodes the kernel's `\ooo` escapes (space, tab, newline, backslash) back into bytes.
    private static func unescape(_ field: ArraySlice<UInt8>) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var index = field.startIndex
        while index < field.endIndex {
            let byte = field[index]
            if byte == UInt8(ascii: "\\"), field.endIndex - index >= 4 {
                let digits = field[(index + 1)...(index + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
                    if value <= 0xFF {
                        bytes.append(UInt8(value))
                        index += 4
                        continue
                    }
                }
            }
            bytes.append(byte)
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
