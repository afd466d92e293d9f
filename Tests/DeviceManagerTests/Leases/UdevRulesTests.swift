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

    /// The daemon gives a lease's nodes what the installed rules would, before udevd does: read
    /// from the file udevd uses, whatever group it was installed with.
    @Test func theDaemonReadsTheNodesGroupAndModeFromTheInstalledRules() throws {
        #expect(UdevRules.nodePermissions(in: try UdevRules.render(group: "root")) == UdevRules.NodePermissions(group: 0, mode: 0o660))
        #expect(UdevRules.nodePermissions(in: try UdevRules.render(group: "no-such-group-here")) == nil)
        #expect(UdevRules.nodePermissions(in: "# nothing of ours\n") == nil)
        let directories = ["/tmp/fractal-rules-\(UUID().uuidString)", "/tmp/fractal-rules-\(UUID().uuidString)"]
        defer { for directory in directories { try? FileManager.default.removeItem(atPath: directory) } }
        #expect(UdevRules.installedNodePermissions(searching: directories) == nil)
        try UdevRules.install(group: "root", directory: directories[1])
        #expect(UdevRules.installedNodePermissions(searching: directories)?.mode == 0o660)
        // The first directory overrides the later ones, as in udevd.
        try FileManager.default.createDirectory(atPath: directories[0], withIntermediateDirectories: true)
        try "KERNEL==\"event*|js*\", GROUP=\"root\", MODE=\"0600\"\n".write(toFile: directories[0] + "/" + UdevRules.fileName, atomically: true, encoding: .utf8)
        #expect(UdevRules.installedNodePermissions(searching: directories)?.mode == 0o600)
    }

    @Test func everyRoleIsMatchedByItsPhysAndTheIDIsImportedFromTheDaemonsFile() throws {
        let rules = try rules
        // hid-nintendo copies the phys to the Switch Pro's input devices; hid-playstation does not.
        // Game controllers also match numbered (gamepad-2 ... gamepad-8), as DeviceHandle names them.
        func pattern(_ key: String, _ role: DeviceRole) -> String {
            let phys = "fractal/?*/\(role.rawValue)" + (role.isGamepad ? "|fractal/?*/\(role.rawValue)-[2-\(DeviceHandle.maximumGamepads)]" : "")
            return #"\#(key)=="\#(phys)", ENV{FRACTAL_ROLE}="\#(role.rawValue)""#
        }
        for role in DeviceRole.allCases where !role.isHIDPad || role == .switchPro {
            #expect(rules.contains(Substring(pattern("ATTRS{phys}", role))), "\(role)")
        }
        // A pad's HID device carries it as HID_PHYS; its other devices take their parent's properties.
        for role in DeviceRole.allCases where role.isHIDPad {
            #expect(rules.contains(Substring(pattern("ENV{HID_PHYS}", role))), "\(role)")
        }
        #expect(rules.contains(#"IMPORT{file}="\#(UdevPropertyFiles.standardDirectory)/$env{HID_PHYS}""#))
        #expect(rules.contains(#"IMPORT{parent}="FRACTAL_*""#))
        #expect(rules.contains(#"ATTRS{phys}=="fractal/?*/?*", IMPORT{file}="\#(UdevPropertyFiles.standardDirectory)/$attr{phys}""#))
        #expect(rules.contains { $0.contains(#"GROUP="fractal""#) })
        #expect(!rules.contains { $0.contains("@") }, "a placeholder is left")
    }

    /// The link names the rules make are the ones `DeviceNode.stableLink` expects (the lease
    /// checks them, grants name them).
    @Test func aPadsPartsAndHidrawAreLinkedUnderTheNamesTheLeaseRecords() throws {
        let rules = try rules
        let id = try FractalID("s1")
        let link = DeviceNode.stableLink(id: id, role: .dualsense, kind: .event, part: .motion)
        #expect(link == "/dev/input/by-fractal-id/s1/dualsense-motion")
        #expect(DeviceNode.stableLink(id: id, role: .dualsense, kind: .mouse, part: .touchpad) == "/dev/input/by-fractal-id/s1/dualsense-touchpad-mouse")
        #expect(DeviceNode.stableLink(id: id, role: .switchPro, kind: .hidraw) == "/dev/input/by-fractal-id/s1/switch-pro-hidraw")
        #expect(rules.contains(#"ENV{FRACTAL_ROLE}=="dualsense|switch-pro", ENV{ID_INPUT_ACCELEROMETER}=="1", ENV{FRACTAL_PART}="-motion""#))
        #expect(rules.contains(#"KERNEL=="event*", SYMLINK+="input/by-fractal-id/$env{FRACTAL_ID}/$env{FRACTAL_DEVICE}$env{FRACTAL_PART}""#))
        #expect(rules.contains(#"KERNEL=="hidraw*", SYMLINK+="input/by-fractal-id/$env{FRACTAL_ID}/$env{FRACTAL_DEVICE}-hidraw""#))
        #expect(DeviceNode.stableLink(id: id, handle: DeviceHandle(.dualsense, number: 2), kind: .hidraw) == "/dev/input/by-fractal-id/s1/dualsense-2-hidraw")
        #expect(rules.contains(#"KERNEL=="event*|js*|mouse*|hidraw*", GROUP="fractal", MODE="0660""#))
    }

    @Test func aDevicesFileIsNamedByItsPhysSaysItsIDAndGoesWithTheLease() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "fractal-udev-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = UdevPropertyFiles(directory: directory + "/run/udev")
        let id = try FractalID("session-7")
        try files.write(id: id, handle: DeviceHandle(.keyboard))
        try files.write(id: id, handle: DeviceHandle(.gamepad))
        try files.write(id: id, handle: DeviceHandle(.gamepad, number: 2))
        let keyboard = directory + "/run/udev/fractal/session-7/keyboard"
        #expect(files.path(id: id, handle: DeviceHandle(.keyboard)) == keyboard)
        #expect(try String(contentsOfFile: keyboard, encoding: .utf8) == "FRACTAL_ID=session-7\nFRACTAL_DEVICE=keyboard\n")
        #expect(try String(contentsOfFile: directory + "/run/udev/fractal/session-7/gamepad-2", encoding: .utf8)
            == "FRACTAL_ID=session-7\nFRACTAL_DEVICE=gamepad-2\n")
        // Written again (a retried plug, an adoption), it is the same.
        try files.write(id: id, handle: DeviceHandle(.keyboard))
        #expect(try String(contentsOfFile: keyboard, encoding: .utf8) == "FRACTAL_ID=session-7\nFRACTAL_DEVICE=keyboard\n")

        files.remove(id: id, handle: DeviceHandle(.gamepad))
        files.remove(id: id, handle: DeviceHandle(.gamepad, number: 2))
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
            try files.write(id: FractalID("x"), handle: DeviceHandle(.mouse))
        } throws: { error in
            guard case LeaseError.store(_, let path, let message) = error else { return false }
            return path == directory + "/fractal" && message.contains("errno")
        }
    }
}
