import DeviceManager
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SDL2 (Debian's 2.26, through python3-sdl2), as a game uses it, on a Switch Pro controller
/// made through uhid: it must list our pad as a Nintendo Switch Pro controller, and a rumble it
/// plays must come back to the pad's owner. SDL reads it through evdev here (its HIDAPI layer
/// lists no hidraw device in the VM; see UHIDDualSenseSDLVMTests), where its controller
/// database knows the pad by its IDs and the 0x8111 version hid-nintendo gives it.
@Suite struct UHIDSwitchProSDLVMTests {
    @Test func sdlSeesASwitchProControllerAndItsRumbleComesBack() throws {
        try requireVM()
        let pad = try SwitchProPad(phys: SwitchProPad.phys(id: .random()))
        defer { pad.close() }
        let gamepad = try #require(pad.nodes.gamepad.first { $0.kind == .event })
        try waitForUdev(gamepad.major, gamepad.minor)

        // Rumble reports need no answer: they wait in uhid's queue until the script has run.
        let (status, output) = try runTool(["/usr/bin/python3", "-c", Self.script, gamepad.path], timeout: .seconds(90))
        let ours = output.split(separator: "\n").filter { $0.contains("\"ours\": true") }
        print("SDL2: \(ours.joined(separator: " "))")
        #expect(status == 0, "\(output)")
        // 5 is SDL_CONTROLLER_TYPE_NINTENDO_SWITCH_PRO.
        #expect(ours.contains { $0.contains("\"type\": 5") && $0.contains("\"rumble\": 0") && $0.contains("Nintendo Switch Pro Controller") },
                "not a Switch Pro controller that rumbles: \(output)")

        var outputs: [SwitchProOutput] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline && !outputs.contains(where: { $0.rumble?.strong == 0xC0 }) {
            outputs += try pad.serve()
            var entry = pollfd(fd: pad.fileDescriptor ?? -1, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 50)
        }
        #expect(outputs.contains { $0.rumble?.strong == 0xC0 && $0.rumble?.weak == 0x40 }, "\(outputs)")
    }

    // udevd must have recorded a node before SDL (through libudev) enumerates it.
    private func waitForUdev(_ major: UInt32, _ minor: UInt32) throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if access("/run/udev/data/c\(major):\(minor)", F_OK) == 0 { return }
            usleep(50_000)
        }
        throw VMTestFailure(description: "udevd did not process \(major):\(minor)")
    }

    /// usage: -c SCRIPT EVENT_NODE. Waits for SDL to list the joystick at the node, prints its
    /// name and controller type, opens it as a game controller and rumbles it at 0xC000/0x4000.
    static let script = #"""
    import ctypes, json, sys, time
    import sdl2
    path = sys.argv[1].encode()
    path_for_index = ctypes.CDLL("libSDL2-2.0.so.0").SDL_JoystickPathForIndex
    path_for_index.restype = ctypes.c_char_p
    path_for_index.argtypes = [ctypes.c_int]
    if sdl2.SDL_Init(sdl2.SDL_INIT_GAMECONTROLLER | sdl2.SDL_INIT_JOYSTICK) != 0:
        print(json.dumps({"error": sdl2.SDL_GetError().decode()})); sys.exit(2)
    found = None
    deadline = time.time() + 30
    while time.time() < deadline and found is None:
        sdl2.SDL_PumpEvents()
        found = next((i for i in range(sdl2.SDL_NumJoysticks()) if path_for_index(i) == path), None)
        time.sleep(0.1)
    if found is None:
        print(json.dumps({"error": "no joystick at " + path.decode()})); sys.exit(1)
    entry = {"ours": True, "name": (sdl2.SDL_JoystickNameForIndex(found) or b"").decode(),
             "type": sdl2.SDL_GameControllerTypeForIndex(found),
             "gamecontroller": sdl2.SDL_IsGameController(found) == sdl2.SDL_TRUE}
    controller = sdl2.SDL_GameControllerOpen(found)
    if not controller:
        print(json.dumps({"error": "open: " + sdl2.SDL_GetError().decode()})); sys.exit(3)
    entry["rumble"] = sdl2.SDL_GameControllerRumble(controller, 0xC000, 0x4000, 1000)
    time.sleep(0.5)
    sdl2.SDL_GameControllerClose(controller)
    print(json.dumps(entry))
    sdl2.SDL_Quit()
    """#
}
