import DeviceManager
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SDL2 (Debian's 2.26, through python3-sdl2), as a game uses it, on a DualSense made through
/// uhid: it must see our pad as a PS5 controller, and a rumble it plays must come back to the
/// pad's owner as an output report.
///
/// Debian 12's SDL reads the pad through evdev here: SDL2's HIDAPI layer drops a hidraw device on
/// BUS_USB that has no USB parent in sysfs, as no uhid device has (src/hidapi/linux/hid.c,
/// hid_enumerate), so SDL's own touchpad, motion-sensor and lightbar support stay off (see
/// docs/DEVICES.md). The script prints what SDL says of them, for the log.
@Suite struct UHIDDualSenseSDLVMTests {
    @Test func sdlSeesAPS5ControllerAndItsRumbleComesBack() throws {
        try requireVM()
        let pad = try DualSensePad(phys: DualSensePad.phys(id: .random()))
        defer { pad.close() }
        let gamepad = try #require(pad.nodes.gamepad.first { $0.kind == .event })
        let hidraw = try #require(pad.nodes.hidraw)
        try waitForUdev(gamepad.major, gamepad.minor)
        try waitForUdev(hidraw.major, hidraw.minor)
        // A program reading hidraw may ask for feature reports: serve the pad meanwhile.
        let server = try PadServer(serving: pad)
        defer { server.stop() }

        let (status, output) = try runTool(
            ["/usr/bin/python3", "-c", Self.script, gamepad.path, hidraw.path], timeout: .seconds(90)
        )
        let ours = output.split(separator: "\n").filter { $0.contains("\"ours\": true") }
        print("SDL2: \(ours.joined(separator: " "))")
        #expect(status == 0, "\(output)")
        #expect(ours.contains { $0.contains("\"type\": 7") && $0.contains("\"rumble\": 0") }, "not a PS5 controller that rumbles: \(output)")
        let outputs = server.wait { $0.contains { $0.rumble == DualSenseRumble(strong: 0xC0, weak: 0x40) } }
        #expect(outputs.contains { $0.rumble == DualSenseRumble(strong: 0xC0, weak: 0x40) }, "\(outputs)")
        #expect(server.failure == nil, "\(server.failure ?? "")")
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

    /// usage: -c SCRIPT EVENT_NODE HIDRAW_NODE. Waits for SDL to list the joystick at either
    /// node (type 7 is SDL_CONTROLLER_TYPE_PS5), opens it as a game controller, reports its
    /// touchpads, sensors and lightbar, and rumbles it at 0xC000/0x4000, as JSON lines.
    static let script = #"""
    import ctypes, json, sys, time
    import sdl2
    paths = {sys.argv[1].encode(), sys.argv[2].encode()}
    path_for_index = ctypes.CDLL("libSDL2-2.0.so.0").SDL_JoystickPathForIndex
    path_for_index.restype = ctypes.c_char_p
    path_for_index.argtypes = [ctypes.c_int]
    if sdl2.SDL_Init(sdl2.SDL_INIT_GAMECONTROLLER | sdl2.SDL_INIT_JOYSTICK | sdl2.SDL_INIT_SENSOR) != 0:
        print(json.dumps({"error": sdl2.SDL_GetError().decode()})); sys.exit(2)
    found = None
    deadline = time.time() + 30
    while time.time() < deadline and found is None:
        sdl2.SDL_PumpEvents()
        found = next((i for i in range(sdl2.SDL_NumJoysticks()) if path_for_index(i) in paths), None)
        time.sleep(0.1)
    if found is None:
        print(json.dumps({"error": "no joystick at " + " or ".join(p.decode() for p in paths)})); sys.exit(1)
    entry = {"ours": True, "name": (sdl2.SDL_JoystickNameForIndex(found) or b"").decode(),
             "path": path_for_index(found).decode(), "type": sdl2.SDL_GameControllerTypeForIndex(found)}
    controller = sdl2.SDL_GameControllerOpen(found)
    if not controller:
        print(json.dumps({"error": "open: " + sdl2.SDL_GetError().decode()})); sys.exit(3)
    entry["touchpads"] = sdl2.SDL_GameControllerGetNumTouchpads(controller)
    entry["gyro"] = bool(sdl2.SDL_GameControllerHasSensor(controller, sdl2.SDL_SENSOR_GYRO))
    entry["accelerometer"] = bool(sdl2.SDL_GameControllerHasSensor(controller, sdl2.SDL_SENSOR_ACCEL))
    entry["led"] = sdl2.SDL_GameControllerHasLED(controller) == sdl2.SDL_TRUE
    entry["rumble"] = sdl2.SDL_GameControllerRumble(controller, 0xC000, 0x4000, 1000)
    time.sleep(0.5)
    sdl2.SDL_GameControllerClose(controller)
    print(json.dumps(entry))
    sdl2.SDL_Quit()
    """#
}

/// Serves a pad on a thread of its own, as the daemon's loop would, collecting its outputs.
final class PadServer: Sendable {
    let pad: DualSensePad
    private let stopping = Atomic<Bool>(false)
    private let received = Mutex<[DualSenseOutput]>([])
    private let failed = Mutex<String?>(nil)
    private let thread = Mutex<pthread_t?>(nil)

    init(serving pad: DualSensePad) throws {
        self.pad = pad
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { context in
            let server = Unmanaged<PadServer>.fromOpaque(context!).takeRetainedValue()
            server.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<PadServer>.fromOpaque(context).release()
            throw VMTestFailure(description: "pthread_create: \(String(cString: strerror(result)))")
        }
        thread.withLock { $0 = handle }
    }

    var failure: String? { failed.withLock { $0 } }

    /// Stops and joins the thread.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        if let handle = thread.withLock({ value -> pthread_t? in defer { value = nil }; return value }) {
            pthread_join(handle, nil)
        }
    }

    /// Waits up to 10 s for the outputs so far to satisfy `done`; returns them either way.
    func wait(_ done: ([DualSenseOutput]) -> Bool) -> [DualSenseOutput] {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let outputs = received.withLock { $0 }
            if done(outputs) { return outputs }
            usleep(20_000)
        }
        return received.withLock { $0 }
    }

    private func run() {
        while !stopping.load(ordering: .relaxed) {
            do {
                let outputs = try pad.serve()
                if !outputs.isEmpty { received.withLock { $0 += outputs } }
            } catch {
                failed.withLock { $0 = "\(error)" }
                return
            }
            var entry = pollfd(fd: pad.fileDescriptor ?? -1, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 20)
        }
    }
}
