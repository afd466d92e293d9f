@testable import DeviceManager
import Foundation
import Testing

/// The rules udevd runs for every uevent of our devices: nothing spawned, every role named.
@Suite struct UdevRulesTests {
    var rules: [Substring] {
        get throws { try UdevRules.render(group: "fractal").split(separator: "\n").filter { !$0.hasPrefix("#") } }
    }

    @Test func theRulesRunNoProgram() throws {
        let rules = try rules
        #expect(!rules.isEmpty)
        for key in ["PROGRAM", "RUN", "IMPORT{program}"] {
            #expect(!rules.contains { $0.contains(key) }, "\(key) in the rules")
        }
    }

    @Test func everyRoleIsMatchedByItsPhysAndTheIDIsImportedFromTheDaemonsFile() throws {
        let rules = try rules
        for role in DeviceRole.allCases {
            #expect(rules.contains(#"ATTRS{phys}=="fractal/?*/\#(role.rawValue)", ENV{FRACTAL_ROLE}="\#(role.rawValue)""#), "\(role)")
        }
        #expect(rules.contains(#"ATTRS{phys}=="fractal/?*/?*", IMPORT{file}="\#(UdevPropertyFiles.standardDirectory)/$attr{phys}""#))
        #expect(rules.contains { $0.contains(#"GROUP="fractal""#) })
        #expect(!rules.contains { $0.contains("@") }, "a placeholder is left")
    }

    @Test func aDevicesFileIsNamedByItsPhysSaysItsIDAndGoesWithTheLease() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "fractal-udev-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = UdevPropertyFiles(directory: directory + "/run/udev")
        let id = try FractalID("session-7")
        try files.write(id: id, role: .keyboard)
        try files.write(id: id, role: .gamepad)
        let keyboard = directory + "/run/udev/fractal/session-7/keyboard"
        #expect(files.path(id: id, role: .keyboard) == keyboard)
        #expect(try String(contentsOfFile: keyboard, encoding: .utf8) == "FRACTAL_ID=session-7\n")
        // Written again (a retried plug, an adoption), it is the same.
        try files.write(id: id, role: .keyboard)
        #expect(try String(contentsOfFile: keyboard, encoding: .utf8) == "FRACTAL_ID=session-7\n")

        files.remove(id: id, role: .gamepad)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/run/udev/fractal/session-7") == ["keyboard"])
        files.remove(id: id)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/run/udev/fractal").isEmpty)
    }

    @Test func aFileThatCannotBeWrittenIsAnErrorNamingIt() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "fractal-udev-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A plain file where a directory must go.
        #expect(FileManager.default.createFile(atPath: directory, contents: Data()))
        let files = UdevPropertyFiles(directory: directory)
        #expect {
            try files.write(id: FractalID("x"), role: .mouse)
        } throws: { error in
            guard case LeaseError.store(_, let path, let message) = error else { return false }
            return path == directory + "/fractal" && message.contains("errno")
        }
    }
}
