import CLibEvdev
import CUInput
import DeviceManager
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A DualSense made through uhid on the real kernel: hid-playstation must take it as the real
/// pad, make its nodes, read our input reports and send us its output reports.
@Suite(.serialized) struct UHIDDualSenseVMTests {
    @Test func hidPlaystationBindsThePadAndMakesItsNodes() throws {
        try requireVM()
        let id = FractalID.random()
        let phys = DualSensePad.phys(id: id)
        let pad = try DualSensePad(phys: phys)
        defer { pad.close() }

        #expect(HIDAttributes.driver(of: pad.syspath) == "playstation", "\(pad.syspath)")
        #expect(HIDAttributes.uevent(pad.syspath).contains("HID_PHYS=\(phys)"))
        // hid-playstation replaces uniq with the pad's MAC, which we derive from the phys.
        #expect(pad.uniq == DualSenseReports.macText(DualSenseReports.macAddress(for: phys)))
        #expect(HIDAttributes.uevent(pad.syspath).contains("HID_UNIQ=\(pad.uniq)"))
        #expect(HIDAttributes.read(pad.syspath + "/firmware_version") == "0x0110002a")

        let gamepad = try #require(pad.nodes.gamepad.first { $0.kind == .event })
        #expect(pad.nodes.gamepad.contains { $0.kind == .joystick })
        let motion = try #require(pad.nodes.motionSensors.first { $0.kind == .event })
        let touchpad = try #require(pad.nodes.touchpad.first { $0.kind == .event })

        let gamepadNode = try EvdevNode(gamepad.path)
        #expect(gamepadNode.name == DualSenseReports.name)
        #expect(libevdev_get_id_vendor(gamepadNode.device) == 0x054C)
        #expect(libevdev_get_id_product(gamepadNode.device) == 0x0CE6)
        #expect(libevdev_get_uniq(gamepadNode.device).map { String(cString: $0) } == pad.uniq)
        #expect(gamepadNode.has(UInt16(EV_FF), UInt16(FF_RUMBLE)))
        #expect(gamepadNode.has(UInt16(EV_KEY), UInt16(BTN_SOUTH)))

        let motionNode = try EvdevNode(motion.path)
        #expect(motionNode.properties.contains(UInt16(INPUT_PROP_ACCELEROMETER)))
        #expect(motionNode.name == DualSenseReports.name + " Motion Sensors")
        let touchpadNode = try EvdevNode(touchpad.path)
        #expect(touchpadNode.properties.contains(UInt16(INPUT_PROP_BUTTONPAD)))
        #expect(touchpadNode.has(UInt16(EV_ABS), UInt16(ABS_MT_POSITION_X)))

        let hidraw = try #require(pad.nodes.hidraw)
        var info = stat()
        #expect(stat(hidraw.path, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "\(hidraw)")
        #expect(pad.nodes.lightbar != nil, "LEDs: \(pad.nodes.leds)")
        #expect(pad.nodes.leds.filter { $0.contains(":white:player-") }.count == 5, "LEDs: \(pad.nodes.leds)")
    }

    @Test func inputReportsArriveAsEvdevEvents() throws {
        try requireVM()
        let pad = try DualSensePad(phys: DualSensePad.phys(id: .random()))
        defer { pad.close() }
        let gamepad = try EvdevNode(try #require(pad.nodes.gamepad.first { $0.kind == .event }).path)
        let motion = try EvdevNode(try #require(pad.nodes.motionSensors.first { $0.kind == .event }).path)

        var input = DualSenseInput()
        input.buttons = [.cross]
        input.leftStick = DualSenseStick(x: 255, y: 128)
        input.gyro = DualSenseVector(x: 100, y: 0, z: 0)
        input.accelerometer = DualSenseVector(x: 0, y: 8192, z: 0)
        try pad.send(input)

        let events = try readUntil(gamepad) { events in
            events.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_SOUTH), value: 1))
                && events.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_X), value: 255))
        }
        #expect(!events.contains { $0.type == UInt16(EV_KEY) && $0.code != UInt16(BTN_SOUTH) && $0.value == 1 }, "\(events)")
        // Our calibration: a raw gyro unit is 64 on the motion node, an accelerometer unit is 1.
        _ = try readUntil(motion) { events in
            events.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_RX), value: 100 * Int32(DualSenseReports.gyroEvdevPerRaw)))
                && events.contains(InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_Y), value: 8192))
        }

        input.buttons = []
        try pad.send(input)
        _ = try readUntil(gamepad) { $0.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_SOUTH), value: 0)) }
    }

    @Test func rumbleAndLightbarArriveAsDecodedOutputReports() throws {
        try requireVM()
        let pad = try DualSensePad(phys: DualSensePad.phys(id: .random()))
        defer { pad.close() }
        _ = try pad.serve()  // what the driver set while binding

        // A game's rumble: EVIOCSFF, then play it. ff-memless hands it to the driver, which
        // sends motor values (magnitude / 256) in an output report.
        let gamepad = try #require(pad.nodes.gamepad.first { $0.kind == .event })
        let fd = open(gamepad.path, O_RDWR | O_CLOEXEC)
        try #require(fd >= 0, "open \(gamepad.path): \(String(cString: strerror(errno)))")
        defer { close(fd) }
        let effect = cuinput_evdev_upload_rumble(fd, -1, 0xC000, 0x4000, 1000)
        try #require(effect >= 0, "EVIOCSFF: \(String(cString: strerror(-effect)))")
        var play = [cuinput_event(type: UInt16(EV_FF), code: UInt16(effect), value: 1)]
        #expect(cuinput_write_events(fd, &play, 1) == 0)
        let rumble = try serveUntil(pad) { $0.rumble != nil && $0.rumble != DualSenseRumble(strong: 0, weak: 0) }
        #expect(rumble.rumble == DualSenseRumble(strong: 0xC0, weak: 0x40))

        // The lightbar's LED class device, written from sysfs as a desktop would.
        let lightbar = try #require(pad.nodes.lightbar)
        try HIDAttributes.write("255 0 128", to: lightbar + "/multi_intensity")
        try HIDAttributes.write("255", to: lightbar + "/brightness")
        let colour = try serveUntil(pad) { $0.lightbar == DualSenseColor(red: 255, green: 0, blue: 128) }
        #expect(colour.lightbar == DualSenseColor(red: 255, green: 0, blue: 128))
        #expect(pad.malformedOutputs == 0)
    }

    @Test func closingRemovesEveryNode() throws {
        try requireVM()
        let pad = try DualSensePad(phys: DualSensePad.phys(id: .random()))
        let syspath = pad.syspath
        let nodes = pad.nodes
        let hidraw = try #require(nodes.hidraw)
        let inputs = nodes.inputNodes
        try #require(inputs.count >= 4, "\(inputs)")
        pad.close()

        #expect(access(syspath, F_OK) != 0, "\(syspath) is still there")
        for led in nodes.leds { #expect(access(led, F_OK) != 0, "\(led) is still there") }
        // A node of the same name may belong to another test's device by now; ours must not.
        for node in inputs {
            #expect(!HIDAttributes.resolve("/sys/class/input/\(node.name)").hasPrefix(syspath + "/"), "\(node) remains")
        }
        #expect(!HIDAttributes.resolve("/sys/class/hidraw/\(hidraw.name)").hasPrefix(syspath + "/"), "\(hidraw) remains")
        #expect(throws: UHIDError.self) { try pad.send(DualSenseInput()) }
    }

    @Test func aSecondPadWithTheSamePhysIsRefusedAndLeavesNothing() throws {
        try requireVM()
        let phys = DualSensePad.phys(id: .random())
        let first = try DualSensePad(phys: phys)
        defer { first.close() }
        // The phys names the pad (and gives its MAC, which hid-playstation would refuse twice).
        let error = #expect(throws: UHIDError.self) { try DualSensePad(phys: phys) }
        #expect(error?.code == .invalidDescription, "\(String(describing: error))")
        let devices = HIDAttributes.entries("/sys/bus/hid/devices").filter {
            HIDAttributes.uevent("/sys/bus/hid/devices/\($0)").contains("HID_PHYS=\(phys)")
        }
        #expect(devices.count == 1, "\(devices)")
    }

    // Reads events until `done` holds for what has arrived (10 s at most).
    private func readUntil(_ node: EvdevNode, _ done: ([InputEvent]) -> Bool) throws -> [InputEvent] {
        var events: [InputEvent] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while !done(events) {
            guard ContinuousClock.now < deadline else {
                throw VMTestFailure(description: "\(node.path): not the events expected: \(events)")
            }
            events += try node.read(count: 1)
        }
        return events
    }

    // Serves the pad until an output `matches` (10 s at most).
    private func serveUntil(_ pad: DualSensePad, _ matches: (DualSenseOutput) -> Bool) throws -> DualSenseOutput {
        var seen: [DualSenseOutput] = []
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

/// Small sysfs reads and writes for the HID tests.
enum HIDAttributes {
    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = fread(&buffer, 1, buffer.count - 1, file)
        let text = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    static func uevent(_ path: String) -> [String] {
        (read(path + "/uevent") ?? "").split(separator: "\n").map(String.init)
    }

    static func driver(of path: String) -> String? {
        let target = resolve(path + "/driver")
        return target == path + "/driver" ? nil : target.split(separator: "/").last.map(String.init)
    }

    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VMTestFailure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard written == text.utf8.count else { throw VMTestFailure(description: "write \(path): \(String(cString: strerror(errno)))") }
    }

    static func resolve(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func entries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
