#if canImport(Glibc)
import Glibc
#endif

/// Reading /sys/class/input: which nodes the kernel made for an input device.
enum InputSysfs {
    /// The `eventN`, `jsN` and `mouseN` children of an input device's sysfs directory,
    /// with the major:minor from each child's `dev` file; the event node first.
    static func nodes(of devicePath: String) throws(UInputError) -> [DeviceNode] {
        guard let directory = opendir(devicePath) else {
            throw UInputError(operation: "opendir", path: devicePath, errno: Glibc.errno)
        }
        defer { closedir(directory) }

        var nodes: [DeviceNode] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            guard let kind = kind(of: name) else { continue }
            let devPath = "\(devicePath)/\(name)/dev"
            let text = try read(devPath)
            let parts = text.split(separator: ":")
            guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else {
                throw UInputError(operation: "parse major:minor '\(text)'", path: devPath, errno: EINVAL)
            }
            nodes.append(DeviceNode(kind: kind, name: name, major: major, minor: minor))
        }
        let order: [DeviceNode.Kind: Int] = [.event: 0, .joystick: 1, .mouse: 2]
        return nodes.sorted { (order[$0.kind]!, $0.name) < (order[$1.kind]!, $1.name) }
    }

    /// `path` with symlinks resolved (/sys/class/input/input17 → /sys/devices/.../input17),
    /// or `path` itself if that fails.
    static func resolve(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func kind(of name: String) -> DeviceNode.Kind? {
        func numbered(_ prefix: String) -> Bool {
            name.hasPrefix(prefix) && name.count > prefix.count && name.dropFirst(prefix.count).allSatisfy(\.isASCIIDigit)
        }
        if numbered("event") { return .event }
        if numbered("js") { return .joystick }
        if numbered("mouse") { return .mouse }
        return nil
    }

    /// A small sysfs attribute (`phys`, `name`), whitespace trimmed.
    static func attribute(_ path: String) throws(UInputError) -> String {
        try read(path)
    }

    // A small sysfs attribute, whitespace trimmed.
    private static func read(_ path: String) throws(UInputError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UInputError(operation: "open", path: path, errno: Glibc.errno) }
        defer { _ = close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw UInputError(operation: "read", path: path, errno: Glibc.errno) }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingWhitespace()
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
