import DeviceManager
import Foundation
import Testing

/// The devices as real users' programs see them: libinput (what compositors and Xorg use),
/// evtest, and SDL2 (what games use). Runs without fractal-agent's udev rules, as on a host
/// where nothing hides the devices (the lease tests check the hiding).
@Suite struct OutsideToolsVMTests {
    /// `libinput list-devices` output, one block per device, found by its event node.
    static func libinputBlock(for node: String) throws -> String? {
        let (status, output) = try runTool(["libinput", "list-devices"])
        guard status == 0 else { throw VMTestFailure(description: "libinput list-devices exited \(status): \(output)") }
        return output.components(separatedBy: "\n\n").first { block in
            block.split(separator: "\n").contains { $0.hasPrefix("Kernel:") && $0.dropFirst(7).trimmingCharacters(in: .whitespaces) == node }
        }
    }

    static func waitForUdev(_ device: UInputDevice) throws {
        let database = "/run/udev/data/+input:\(device.sysname)"
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if access(database, F_OK) == 0, let node = device.eventNode,
               access("/run/udev/data/c\(node.major):\(node.minor)", F_OK) == 0 { return }
            usleep(50_000)
        }
        throw VMTestFailure(description: "udevd did not process \(device.sysname)")
    }

    @Test(arguments: [
        (DeviceRole.keyboard, "keyboard"),
        (DeviceRole.mouse, "pointer"),
        (DeviceRole.tablet, "pointer"),
        (DeviceRole.touchscreen, "touch"),
    ])
    func libinputClassifiesTheDevice(role: DeviceRole, capability: String) throws {
        try requireVM()
        let device = try UInputDevice(profile: .forRole(role), phys: testPhys(role))
        defer { device.close() }
        try Self.waitForUdev(device)
        let node = try #require(device.eventNode).path
        let block = try #require(try Self.libinputBlock(for: node), "libinput list-devices does not list \(node)")
        #expect(block.contains("Device:           \(device.profile.name)"))
        let capabilities = block.split(separator: "\n").first { $0.hasPrefix("Capabilities:") }.map(String.init) ?? ""
        #expect(capabilities.split(separator: " ").dropFirst().map(String.init) == [capability], "\(role): \(block)")
        print("libinput list-devices, \(role): \(capabilities)")
    }

    @Test func evtestSeesKeysGoDownAndUp() throws {
        try requireVM()
        let device = try UInputDevice(profile: .keyboard, phys: testPhys(.keyboard))
        defer { device.close() }
        try Self.waitForUdev(device)
        let node = try #require(device.eventNode).path
        let (status, description) = try runTool(["sh", "-c", "timeout 2 evtest \(node); true"])
        #expect(status == 0)
        #expect(description.contains("Input device name: \"Fractal Virtual Keyboard\""), "\(description.prefix(400))")
        #expect(description.contains("Event code 30 (KEY_A)"))
        #expect(description.contains("Event type 17 (EV_LED)"))
        #expect(description.contains("Key repeat handling"))

        // evtest --query exits 10 while the key is down and 0 when it is up.
        try device.write([.key(30, pressed: true), .syn()])
        #expect(try runTool(["evtest", "--query", node, "EV_KEY", "KEY_A"]).status == 10)
        try device.write([.key(30, pressed: false), .syn()])
        #expect(try runTool(["evtest", "--query", node, "EV_KEY", "KEY_A"]).status == 0)
    }

    @Test func sdl2MapsTheGamepadAsAGameControllerAndRumblesIt() throws {
        try requireVM()
        let device = try UInputDevice(profile: .gamepad, phys: testPhys(.gamepad))
        let server = try FeedbackServer(serving: device)
        defer {
            server.stop()
            device.close()
        }
        try Self.waitForUdev(device)
        let script = repositoryRoot.appending(path: "Tests/VMTests/OutsideTools/sdl_controllers.py").path
        let node = try #require(device.eventNode).path
        let (status, output) = try runTool(["/usr/bin/python3", script, node, "--rumble", "16384", "32768"])
        #expect(status == 0, "\(output)")
        let ours = output.split(separator: "\n").filter { $0.contains("\"path\": \"\(node)\"") }
        #expect(!ours.isEmpty, "SDL2 does not list the gamepad: \(output)")
        #expect(ours.allSatisfy { $0.contains("\"gameController\": true") }, "\(output)")
        print("SDL2: \(ours.joined(separator: " "))")
        let rumble = server.wait { if case .rumble = $0 { return true } else { return false } }
        guard case .rumble(_, let strong, let weak, _) = rumble else {
            Issue.record("the owner saw no rumble from SDL2: \(server.all); SDL said \(output)")
            return
        }
        #expect(strong == 16384)
        #expect(weak == 32768)
    }
}
