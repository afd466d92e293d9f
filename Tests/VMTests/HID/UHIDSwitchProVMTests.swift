import CLibEvdev
import CUInput
import DeviceManager
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A Switch Pro controller made through uhid on the real kernel: hid-nintendo must take it as
/// the real pad over USB (its handshake, calibration reads and subcommands answered), make its
/// nodes, read our input reports and send us its rumble and player lights.
@Suite(.serialized) struct UHIDSwitchProVMTests {
    @Test func hidNintendoBindsThePadAndMakesItsNodes() throws {
        try requireVM()
        let phys = SwitchProPad.phys(id: .random())
        let pad = try SwitchProPad(phys: phys)
        defer { pad.close() }

        #expect(HIDAttributes.driver(of: pad.syspath) == "nintendo", "\(pad.syspath)")
        #expect(HIDAttributes.uevent(pad.syspath).contains("HID_PHYS=\(phys)"))
        let gamepad = try #require(pad.nodes.gamepad.first { $0.kind == .event })
        #expect(pad.nodes.gamepad.contains { $0.kind == .joystick })
        let imu = try #require(pad.nodes.imu.first { $0.kind == .event })

        let gamepadNode = try EvdevNode(gamepad.path)
        #expect(gamepadNode.name == SwitchProReports.gamepadName)
        #expect(libevdev_get_id_vendor(gamepadNode.device) == 0x057E)
        #expect(libevdev_get_id_product(gamepadNode.device) == 0x2009)
        #expect(libevdev_get_id_version(gamepadNode.device) == 0x8111)
        // hid-nintendo copies the HID phys and writes the MAC from our device info as the uniq.
        #expect(gamepadNode.phys == phys)
        #expect(libevdev_get_uniq(gamepadNode.device).map { String(cString: $0) } == pad.uniq)
        #expect(gamepadNode.has(UInt16(EV_FF), UInt16(FF_RUMBLE)))
        #expect(gamepadNode.has(UInt16(EV_KEY), UInt16(BTN_SOUTH)) && gamepadNode.has(UInt16(EV_ABS), UInt16(ABS_RX)),
                "both sticks' buttons and axes: the device info said Pro Controller")
        #expect(gamepadNode.has(UInt16(EV_ABS), UInt16(ABS_HAT0X)))

        let imuNode = try EvdevNode(imu.path)
        #expect(imuNode.properties.contains(UInt16(INPUT_PROP_ACCELEROMETER)))
        #expect(imuNode.name == SwitchProReports.imuName)
        #expect(imuNode.axis(UInt16(ABS_X))?.resolution == Int32(SwitchProReports.accelerometerRawPerG))

        let hidraw = try #require(pad.nodes.hidraw)
        var info = stat()
        #expect(stat(hidraw.path, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "\(hidraw)")
        #expect(pad.nodes.playerLEDs.count == 4, "LEDs: \(pad.nodes.leds)")
        #expect(pad.nodes.leds.contains { $0.hasSuffix(":blue:player-5") }, "the home LED: \(pad.nodes.leds)")
    }

    @Test func inputReportsArriveAsEvdevEvents() throws {
        try requireVM()
        let pad = try SwitchProPad(phys: SwitchProPad.phys(id: .random()))
        defer { pad.close() }
        let gamepad = try EvdevNode(try #require(pad.nodes.gamepad.first { $0.kind == .event }).path)
        let imu = try EvdevNode(try #require(pad.nodes.imu.first { $0.kind == .event }).path)

        var input = SwitchProInput()
        input.buttons = [.a]
        input.leftStick = SwitchProStick(x: 3072, y: 1024)
        input.motion = [SwitchProMotion(accelerometer: SwitchProVector(x: 0, y: 4096, z: 0), gyro: SwitchProVector(x: 100, y: 0, z: 0))]
        try pad.send(input)

        // A (east on the pad) is BTN_EAST. Our stick calibration (centre 2048, 2047 above, 2048
        // below) puts raw 3072 at 1024 × 32767 / 2047 (the driver's defaults would give 23417),
        // and y, up on the pad, down on the node.
        let events = try readUntil(gamepad, resending: input, to: pad) { events in
            events.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_EAST), value: 1))
                && events.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_X), value: 16391))
                && events.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_Y), value: 16383))
        }
        #expect(!events.contains { $0.type == UInt16(EV_KEY) && $0.code != UInt16(BTN_EAST) && $0.value == 1 }, "\(events)")
        // Our IMU calibration: a raw accelerometer unit is 1 on the node, a raw gyro unit 1000.
        _ = try readUntil(imu, resending: input, to: pad) { events in
            events.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_Y), value: 4096))
                && events.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_RX), value: 100 * Int32(SwitchProReports.gyroEvdevPerRaw)))
        }

        input.buttons = []
        try pad.send(input)
        _ = try readUntil(gamepad, resending: input, to: pad) { $0.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_EAST), value: 0)) }
        #expect(pad.malformedOutputs == 0)
    }

    @Test func playerLightsAndRumbleArriveDecoded() throws {
        try requireVM()
        let pad = try SwitchProPad(phys: SwitchProPad.phys(id: .random()))
        defer { pad.close() }

        // The driver lights the next player number (1-4, counted over every pad since it loaded)
        // while binding: the first serve() returns it, and its LED class devices agree.
        let probed = try pad.serve()
        let lights = try #require(probed.compactMap(\.playerLights).last, "no player lights at probe: \(probed)")
        let lit = pad.nodes.playerLEDs.prefix { HIDAttributes.read($0 + "/brightness") == "1" }.count
        print("Switch Pro at probe: player \(lights.player.map(String.init) ?? "?"), lights \(lights)")
        #expect(lights.player == lit && lit >= 1, "lights \(lights), \(lit) LEDs lit: \(pad.nodes.playerLEDs)")

        // A desktop lighting the next LED (or putting out the fourth) from sysfs: the driver
        // sends all four again.
        let (led, value, expected) = lit < 4
            ? (pad.nodes.playerLEDs[lit], "1", SwitchProPlayerLights(on: lights.on | UInt8(1 << lit)))
            : (pad.nodes.playerLEDs[3], "0", SwitchProPlayerLights(on: 0x07))
        try HIDAttributes.write(value, to: led + "/brightness")
        let relit = try serveUntil(pad) { $0.playerLights == expected }
        #expect(relit.playerLights == expected)

        // A game's rumble: EVIOCSFF, then play it. ff-memless hands it to the driver, which
        // sends a rumble-only report with strong on the left motor, weak on the right.
        let gamepad = try #require(pad.nodes.gamepad.first { $0.kind == .event })
        let fd = open(gamepad.path, O_RDWR | O_CLOEXEC)
        try #require(fd >= 0, "open \(gamepad.path): \(String(cString: strerror(errno)))")
        defer { close(fd) }
        let effect = cuinput_evdev_upload_rumble(fd, -1, 0xC000, 0x4000, 1000)
        try #require(effect >= 0, "EVIOCSFF: \(String(cString: strerror(-effect)))")
        var play = [cuinput_event(type: UInt16(EV_FF), code: UInt16(effect), value: 1)]
        #expect(cuinput_write_events(fd, &play, 1) == 0)
        let rumble = try #require(try serveUntil(pad) { ($0.rumble?.strong ?? 0) > 0 }.rumble)
        #expect(rumble.strong == 0xC0 && rumble.weak == 0x40, "\(rumble)")
        #expect(rumble.left.highAmplitude == 757 && rumble.right.lowAmplitude == 251, "\(rumble)")
        #expect(pad.malformedOutputs == 0)
    }

    @Test func closingRemovesEveryNode() throws {
        try requireVM()
        let pad = try SwitchProPad(phys: SwitchProPad.phys(id: .random()))
        let syspath = pad.syspath
        let nodes = pad.nodes
        let hidraw = try #require(nodes.hidraw)
        let inputs = nodes.inputNodes
        try #require(inputs.count >= 3, "\(inputs)")
        pad.close()

        #expect(access(syspath, F_OK) != 0, "\(syspath) is still there")
        for led in nodes.leds { #expect(access(led, F_OK) != 0, "\(led) is still there") }
        for node in inputs {
            #expect(!HIDAttributes.resolve("/sys/class/input/\(node.name)").hasPrefix(syspath + "/"), "\(node) remains")
        }
        #expect(!HIDAttributes.resolve("/sys/class/hidraw/\(hidraw.name)").hasPrefix(syspath + "/"), "\(hidraw) remains")
        #expect(throws: UHIDError.self) { try pad.send(SwitchProInput()) }
    }

    @Test func aSecondPadWithTheSamePhysIsRefused() throws {
        try requireVM()
        let phys = SwitchProPad.phys(id: .random())
        let first = try SwitchProPad(phys: phys)
        defer { first.close() }
        let error = #expect(throws: UHIDError.self) { try SwitchProPad(phys: phys) }
        #expect(error?.code == .invalidDescription, "\(String(describing: error))")
        let devices = HIDAttributes.entries("/sys/bus/hid/devices").filter {
            HIDAttributes.uevent("/sys/bus/hid/devices/\($0)").contains("HID_PHYS=\(phys)")
        }
        #expect(devices.count == 1, "\(devices)")
    }

    // Reads events until `done` holds (10 s at most), sending `input` again every 100 ms and
    // serving the pad meanwhile, as its owner would.
    private func readUntil(_ node: EvdevNode, resending input: SwitchProInput, to pad: SwitchProPad, _ done: ([InputEvent]) -> Bool) throws -> [InputEvent] {
        var events: [InputEvent] = []
        let deadline = ContinuousClock.now + .seconds(10)
        var lastSent = ContinuousClock.now
        while !done(events) {
            guard ContinuousClock.now < deadline else {
                throw VMTestFailure(description: "\(node.path): not the events expected: \(events)")
            }
            if ContinuousClock.now - lastSent > .milliseconds(100) {
                try pad.send(input)
                lastSent = ContinuousClock.now
            }
            _ = try pad.serve()
            do { events += try node.read(count: 1, timeout: .milliseconds(100)) } catch {}
        }
        return events
    }

    // Serves the pad until an output `matches` (10 s at most).
    private func serveUntil(_ pad: SwitchProPad, _ matches: (SwitchProOutput) -> Bool) throws -> SwitchProOutput {
        var seen: [SwitchProOutput] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let outputs = try pad.serve()
            if let found = outputs.first(where: matches) { return found }
            seen += outputs
            var entry = pollfd(fd: pad.fileDescriptor ?? -1, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 50)
        }
        throw VMTestFailure(description: "no matching output report; saw \(seen)")
    }
}
