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
}
