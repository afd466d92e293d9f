import Foundation

/// The udev rules that name lease devices by FractalID and keep them off the host's seat
/// (the text is `udev/72-fractal-agent.rules`, embedded at build time).
public enum UdevRules {
    public static let fileName = "72-fractal-agent.rules"
    public static let defaultDirectory = "/etc/udev/rules.d"
    /// The property the rules set on every device they keep off the host's seat; a lease whose
    /// devices lack it in udev's database is refused (the rules are missing or stale).
    public static let hiddenProperty = "FRACTAL_HOST_HIDDEN"

    /// Why the rules could not be installed.
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// The rules with the group that may open the nodes filled in.
    public static func render(group: String) throws(Error) -> String {
        let valid = !group.isEmpty && group.utf8.count <= 32 && group.unicodeScalars.enumerated().allSatisfy { index, scalar in
            (scalar >= "a" && scalar <= "z") || scalar == "_" || (index > 0 && ((scalar >= "0" && scalar <= "9") || scalar == "-"))
        }
        guard valid else { throw Error(description: "'\(group)' is not a valid group name (lowercase letters, digits, '-' and '_')") }
        return fractalUdevRulesTemplate.replacingOccurrences(of: "@GROUP@", with: group)
            .replacingOccurrences(of: "@PROPERTIES@", with: UdevPropertyFiles.standardDirectory) + "\n"
    }

    /// Writes the rules into `directory` (atomically) and asks a running udevd to reload them.
    /// Returns the path written.
    @discardableResult
    public static func install(group: String, directory: String = defaultDirectory) throws(Error) -> String {
        let text = try render(group: group)
        let path = directory + "/" + fileName
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(filePath: path), options: .atomic)
        } catch {
            throw Error(description: "cannot write \(path): \(error)")
        }
        if access("/run/udev/control", F_OK) == 0 {
            let reload = Process()
            reload.executableURL = URL(filePath: "/usr/bin/udevadm")
            reload.arguments = ["control", "--reload"]
            do {
                try reload.run()
                reload.waitUntilExit()
            } catch {
                throw Error(description: "wrote \(path), but `udevadm control --reload` failed: \(error)")
            }
        }
        return path
    }

    /// Where udevd looks for rules, the first overriding the later ones of the same name.
    public static let searchDirectories = ["/etc/udev/rules.d", "/run/udev/rules.d", "/usr/lib/udev/rules.d", "/lib/udev/rules.d"]

    /// The group and mode the installed rules give a lease's nodes, read from the file udevd
    /// uses (the first of `searchDirectories` that has it). The daemon gives the nodes the same
    /// at once, before udevd gets to them, so that a container started meanwhile gets them from
    /// Docker (which copies the host node's at start); udevd then sets what is already there.
    /// Nil when no rules are installed or their line is not ours.
    public struct NodePermissions: Equatable, Sendable {
        public var group: gid_t
        public var mode: mode_t
    }

    public static func installedNodePermissions(searching directories: [String] = searchDirectories) -> NodePermissions? {
        guard let text = directories.lazy.compactMap({ try? String(contentsOfFile: $0 + "/" + fileName, encoding: .utf8) }).first else { return nil }
        return nodePermissions(in: text)
    }

    /// The permissions of the rules' node line: `KERNEL=="event*|...", GROUP="name", MODE="0660"`.
    package static func nodePermissions(in rules: String) -> NodePermissions? {
        for line in rules.split(separator: "\n") where line.hasPrefix("KERNEL==\"event*") && line.contains("GROUP=") {
            guard let group = value(of: "GROUP", in: line), let modeText = value(of: "MODE", in: line),
                  let mode = mode_t(modeText, radix: 8), let gid = groupID(group) else { return nil }
            return NodePermissions(group: gid, mode: mode)
        }
        return nil
    }

    private static func value(of key: String, in line: Substring) -> String? {
        guard let start = line.range(of: key + "=\"") else { return nil }
        let rest = line[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    private static func groupID(_ name: String) -> gid_t? {
        var group = Glibc.group()
        var found: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        return group.gr_gid
    }
}
