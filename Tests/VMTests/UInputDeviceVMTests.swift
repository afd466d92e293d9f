import CLibEvdev
import CUInput
import DeviceManager
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Real uinput devices in the VM's kernel: what the kernel and libevdev see must be exactly
/// what the profile says.
@Suite struct UInputDeviceVMTests {
    @Test(arguments: DeviceRole.uinputRoles)
    func kernelSeesTheProfile(role: DeviceRole) throws {
        try requireVM()
        let profile = DeviceProfile.forRole(role)
        let phys = testPhys(role)
        let device = try UInputDevice(profile: profile, phys: phys)
        defer { device.close() }

        #expect(device.sysname.hasPrefix("input") && UInt32(device.sysname.dropFirst(5)) != nil)
        #expect(device.syspath.hasPrefix("/sys/devices/") && device.syspath.hasSuffix("/" + device.sysname))
        let eventNodes = device.nodes.filter { $0.kind == .event }
        try #require(eventNodes.count == 1, "nodes: \(device.nodes); \(device.syspath) now holds \(listing(device.syspath))")
        let node = try EvdevNode(eventNodes[0].path)

        #expect(node.name == profile.name)
        #expect(node.phys == phys)
        #expect(libevdev_get_id_bustype(node.device) == Int32(profile.bus))
        #expect(libevdev_get_id_vendor(node.device) == Int32(profile.vendor))
        #expect(libevdev_get_id_product(node.device) == Int32(profile.product))
        #expect(libevdev_get_id_version(node.device) == Int32(profile.version))

        for type in [EV_KEY, EV_REL, EV_MSC, EV_LED, EV_SW, EV_FF].map({ UInt16($0) }) {
            #expect(node.codes(type) == Set(profile.codes[type] ?? []), "\(typeName(type)) bits")
        }
        #expect((libevdev_has_event_type(node.device, UInt32(EV_REP)) == 1) == (profile.codes[UInt16(EV_REP)] != nil))
        #expect(node.codes(UInt16(EV_ABS)) == Set(profile.axes.map(\.code)))
        for axis in profile.axes {
            #expect(node.axis(axis.code) == axis)
        }
        #expect(node.properties == Set(profile.properties))
    }

    @Test(arguments: DeviceRole.uinputRoles)
    func nodesAreTheKernelsCharacterDevices(role: DeviceRole) throws {
        try requireVM()
        let device = try UInputDevice(profile: .forRole(role), phys: testPhys(role))
        defer { device.close() }
        for node in device.nodes {
            var info = stat()
            try #require(stat(node.path, &info) == 0, "stat \(node.path): \(String(cString: strerror(errno)))")
            #expect(info.st_mode & S_IFMT == S_IFCHR, "\(node.path) is not a character device")
            // glibc's major()/minor() are macros Swift cannot call.
            let rdev = UInt64(info.st_rdev)
            let major = UInt32(truncatingIfNeeded: ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff))
            let minor = UInt32(truncatingIfNeeded: (rdev & 0xff) | ((rdev >> 12) & ~0xff))
            #expect(major == node.major, "\(node)")
            #expect(minor == node.minor, "\(node)")
            #expect(access("\(device.syspath)/\(node.name)", F_OK) == 0)
        }
        // joydev makes jsN for joysticks and gamepads only; mousedev (built into Debian's
        // kernel) makes mouseN for pointers, touchscreens included.
        #expect(device.nodes.contains { $0.kind == .joystick } == (role == .gamepad), "nodes: \(device.nodes)")
        #expect(device.nodes.contains { $0.kind == .mouse } == [.mouse, .tablet, .touchscreen, .pen, .trackpad].contains(role), "nodes: \(device.nodes)")
    }

    @Test func gamepadHasAJoystickNode() throws {
        try requireVM()
        let device = try UInputDevice(profile: .gamepad, phys: testPhys(.gamepad))
        defer { device.close() }
        let joystick = try #require(device.nodes.first { $0.kind == .joystick }, "nodes: \(device.nodes)")
        #expect(joystick.name.hasPrefix("js"))
        #expect(joystick.path == "/dev/input/\(joystick.name)")
        #expect(joystick.major == 13)
    }

    /// A batch written through the device arrives on its event node whole and in order,
    /// framed by the SYN_REPORTs the caller put in (write adds none).
    @Test(arguments: DeviceRole.uinputRoles)
    func eventsArriveInOrder(role: DeviceRole) throws {
        try requireVM()
        let device = try UInputDevice(profile: .forRole(role), phys: testPhys(role))
        defer { device.close() }
        let node = try EvdevNode(try #require(device.eventNode).path)

        let (written, expected) = Self.batch(for: role)
        try device.write(written)
        let read = try node.read(count: expected.count)
        #expect(read == expected)
        // Nothing more: no SYN_REPORT of the device's own.
        #expect(throws: VMTestFailure.self) { try node.read(count: 1, timeout: .milliseconds(300)) }
    }

    @Test func closeRemovesTheDevice() throws {
        try requireVM()
        let device = try UInputDevice(profile: .gamepad, phys: testPhys(.gamepad))
        let classPath = "/sys/class/input/\(device.sysname)"
        #expect(access(classPath, F_OK) == 0)
        #expect(device.fileDescriptor != nil)
        device.close()
        #expect(access(classPath, F_OK) != 0 && errno == ENOENT, "\(classPath) still there after close()")
        #expect(access(device.syspath, F_OK) != 0, "\(device.syspath) still there after close()")
        for node in device.nodes {
            // Node names are reused at once, so a parallel test's device may have this one by
            // now; it must not be ours.
            let owner = resolvedPath("/sys/class/input/\(node.name)")
            #expect(owner.map { !$0.hasPrefix(device.syspath + "/") } ?? true, "\(node) still there after close()")
        }
        #expect(device.fileDescriptor == nil)
        device.close()  // Idempotent.
        let error = #expect(throws: UInputError.self) { try device.write([.syn()]) }
        #expect(error?.code == .closed)
    }

    @Test func releasingTheLastReferenceRemovesTheDevice() throws {
        try requireVM()
        var device: UInputDevice? = try UInputDevice(profile: .mouse, phys: testPhys(.mouse))
        let classPath = "/sys/class/input/\(device!.sysname)"
        #expect(access(classPath, F_OK) == 0)
        device = nil
        #expect(access(classPath, F_OK) != 0, "\(classPath) outlived its UInputDevice")
    }

    /// A program uploads a rumble effect on the gamepad's event node and plays it; the owner
    /// serves the upload and sees the same magnitudes.
    @Test func rumbleRoundTrip() throws {
        try requireVM()
        let device = try UInputDevice(profile: .gamepad, phys: testPhys(.gamepad))
        defer { device.close() }
        let server = try FeedbackServer(serving: device)
        defer { server.stop() }
        let node = try EvdevNode(try #require(device.eventNode).path, flags: O_RDWR | O_NONBLOCK)

        // Blocks until the server's readFeedback() acknowledges the upload.
        let id = cuinput_evdev_upload_rumble(node.fd, -1, 0xC000, 0x4000, 750)
        try #require(id >= 0, "EVIOCSFF: \(String(cString: strerror(-id))); feedback \(server.all)")
        let effect = Int16(id)

        try node.write([InputEvent(type: UInt16(EV_FF), code: UInt16(effect), value: 1)])
        let played = server.wait { if case .rumble = $0 { true } else { false } }
        #expect(played == .rumble(effectID: effect, strong: 0xC000, weak: 0x4000, durationMs: 750), "\(server.all)")

        try node.write([InputEvent(type: UInt16(EV_FF), code: UInt16(effect), value: 0)])
        let stopped = server.wait { $0 == .rumbleStopped(effectID: effect) }
        #expect(stopped != nil, "no rumbleStopped; feedback \(server.all)")

        let erased = cuinput_evdev_erase_effect(node.fd, effect)
        #expect(erased == 0, "EVIOCRMFF: \(String(cString: strerror(-erased)))")
        // Once erased, the kernel refuses to play it: nothing reaches the owner.
        try node.write([InputEvent(type: UInt16(EV_FF), code: UInt16(effect), value: 1)])
        usleep(300_000)
        let rumbles = server.all.filter { if case .rumble = $0 { true } else { false } }
        #expect(rumbles.count == 1, "\(server.all)")
        #expect(server.stop() == nil)
    }

    @Test func keyboardLEDsAreReported() throws {
        try requireVM()
        let device = try UInputDevice(profile: .keyboard, phys: testPhys(.keyboard))
        defer { device.close() }
        let node = try EvdevNode(try #require(device.eventNode).path, flags: O_RDWR | O_NONBLOCK)
        _ = try device.readFeedback()  // Whatever the console's keyboard handler set on connect.

        try node.write([InputEvent(type: UInt16(EV_LED), code: UInt16(LED_CAPSL), value: 1), .syn()])
        var feedback: [DeviceFeedback] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while !feedback.contains(.led(code: UInt16(LED_CAPSL), on: true)), ContinuousClock.now < deadline {
            feedback += try device.readFeedback()
            usleep(10_000)
        }
        #expect(feedback.contains(.led(code: UInt16(LED_CAPSL), on: true)), "\(feedback)")
    }

    /// What to write for a role, and what its event node must then show. The kernel drops
    /// nothing here: every value differs from the last by more than the axis' fuzz.
    static func batch(for role: DeviceRole) -> (written: [InputEvent], expected: [InputEvent]) {
        func c(_ value: Int32) -> UInt16 { UInt16(value) }
        switch role {
        case .keyboard:
            let events: [InputEvent] = [
                InputEvent(type: c(EV_MSC), code: c(MSC_SCAN), value: 0x70004), .key(c(KEY_A), pressed: true), .syn(),
                InputEvent(type: c(EV_MSC), code: c(MSC_SCAN), value: 0x70004), .key(c(KEY_A), pressed: false), .syn(),
            ]
            return (events, events)
        case .mouse:
            let events: [InputEvent] = [
                .rel(c(REL_X), 5), .rel(c(REL_Y), -3), .syn(),
                .key(c(BTN_LEFT), pressed: true), .syn(),
                .rel(c(REL_WHEEL), 1), .rel(c(REL_WHEEL_HI_RES), 120), .syn(),
                .key(c(BTN_LEFT), pressed: false), .syn(),
            ]
            return (events, events)
        case .tablet:
            let events: [InputEvent] = [
                .abs(c(ABS_X), 32768), .abs(c(ABS_Y), 16384), .syn(),
                .key(c(BTN_RIGHT), pressed: true), .syn(),
                .key(c(BTN_RIGHT), pressed: false), .syn(),
            ]
            return (events, events)
        case .gamepad:
            let events: [InputEvent] = [
                .abs(c(ABS_X), 20000), .abs(c(ABS_RY), -20000), .abs(c(ABS_Z), 512), .abs(c(ABS_HAT0X), -1), .syn(),
                .key(c(BTN_SOUTH), pressed: true), .syn(),
                .key(c(BTN_SOUTH), pressed: false), .abs(c(ABS_HAT0X), 0), .syn(),
            ]
            return (events, events)
        case .touchscreen:
            // Slot 1, not 0: the kernel passes ABS_MT_SLOT on only when the slot changes,
            // and a new device starts in slot 0.
            let down: [InputEvent] = [
                .abs(c(ABS_MT_SLOT), 1), .abs(c(ABS_MT_TRACKING_ID), 7),
                .abs(c(ABS_MT_POSITION_X), 1000), .abs(c(ABS_MT_POSITION_Y), 2000),
                .key(c(BTN_TOUCH), pressed: true), .abs(c(ABS_X), 1000), .abs(c(ABS_Y), 2000), .syn(),
            ]
            let up: [InputEvent] = [
                .abs(c(ABS_MT_TRACKING_ID), -1), .key(c(BTN_TOUCH), pressed: false), .syn(),
            ]
            return (down + up, down + up)
        case .pen:
            // Into proximity hovering, the tip down with pressure and tilt, out again.
            let events: [InputEvent] = [
                .key(c(BTN_TOOL_PEN), pressed: true), .abs(c(ABS_X), 30000), .abs(c(ABS_Y), 20000), .abs(c(ABS_DISTANCE), 40), .syn(),
                .key(c(BTN_TOUCH), pressed: true), .abs(c(ABS_DISTANCE), 0), .abs(c(ABS_PRESSURE), 2048),
                .abs(c(ABS_TILT_X), 1000), .abs(c(ABS_TILT_Y), -500), .key(c(BTN_STYLUS), pressed: true), .syn(),
                .key(c(BTN_TOUCH), pressed: false), .abs(c(ABS_PRESSURE), 0), .key(c(BTN_STYLUS), pressed: false), .syn(),
                .key(c(BTN_TOOL_PEN), pressed: false), .syn(),
            ]
            return (events, events)
        case .trackpad:
            // Two fingers in slots 1 and 2 (slot 0 would not be announced), then both lifted.
            let down: [InputEvent] = [
                .abs(c(ABS_MT_SLOT), 1), .abs(c(ABS_MT_TRACKING_ID), 3), .abs(c(ABS_MT_POSITION_X), 20000), .abs(c(ABS_MT_POSITION_Y), 30000),
                .abs(c(ABS_MT_SLOT), 2), .abs(c(ABS_MT_TRACKING_ID), 4), .abs(c(ABS_MT_POSITION_X), 40000), .abs(c(ABS_MT_POSITION_Y), 30000),
                .key(c(BTN_TOUCH), pressed: true), .key(c(BTN_TOOL_DOUBLETAP), pressed: true), .abs(c(ABS_X), 20000), .abs(c(ABS_Y), 30000), .syn(),
            ]
            let up: [InputEvent] = [
                .abs(c(ABS_MT_TRACKING_ID), -1), .abs(c(ABS_MT_SLOT), 1), .abs(c(ABS_MT_TRACKING_ID), -1),
                .key(c(BTN_TOUCH), pressed: false), .key(c(BTN_TOOL_DOUBLETAP), pressed: false), .syn(),
            ]
            return (down + up, down + up)
        case .dualsense, .switchPro:
            preconditionFailure("a \(role.rawValue) is a uhid pad, not a uinput device")
        }
    }
}

/// An event type's kernel name, for test messages.
func typeName(_ type: UInt16) -> String {
    libevdev_event_type_get_name(UInt32(type)).map { String(cString: $0) } ?? "type \(type)"
}

/// How udevd's input_id builtin classifies each device, with no rule of ours helping: this is
/// what libinput, SDL and desktops go by.
@Suite struct UdevClassificationVMTests {
    static let classes = [
        "ID_INPUT_KEYBOARD", "ID_INPUT_MOUSE", "ID_INPUT_TABLET", "ID_INPUT_TOUCHSCREEN",
        "ID_INPUT_TOUCHPAD", "ID_INPUT_JOYSTICK", "ID_INPUT_POINTINGSTICK", "ID_INPUT_ACCELEROMETER",
    ]

    static func expected(_ role: DeviceRole) -> Set<String> {
        switch role {
        case .keyboard: ["ID_INPUT_KEYBOARD"]
        case .mouse: ["ID_INPUT_MOUSE"]
        // An absolute pointer, not a drawing tablet: libinput moves the cursor with it.
        case .tablet: ["ID_INPUT_MOUSE"]
        case .gamepad: ["ID_INPUT_JOYSTICK"]
        case .touchscreen: ["ID_INPUT_TOUCHSCREEN"]
        case .pen: ["ID_INPUT_TABLET"]
        case .trackpad: ["ID_INPUT_TOUCHPAD"]
        case .dualsense, .switchPro: ["ID_INPUT_JOYSTICK"]
        }
    }

    @Test(arguments: DeviceRole.uinputRoles)
    func udevClassifiesTheDeviceAsItsRole(role: DeviceRole) throws {
        try requireVM()
        try #require(access("/run/udev/control", F_OK) == 0, "udevd is not running in the VM (scripts/vm/run without --no-udev)")
        let device = try UInputDevice(profile: .forRole(role), phys: testPhys(role))
        defer { device.close() }

        // udevd handles the new device asynchronously; its database entry appears when done.
        // The input device's entry, not the event node's: node numbers are reused, and a
        // removed device's entry may linger, while inputN names never repeat.
        let database = "/run/udev/data/+input:\(device.sysname)"
        var properties: Set<String> = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            properties = Self.properties(database)
            if properties.contains("ID_INPUT=1") { break }
            usleep(50_000)
        }
        try #require(properties.contains("ID_INPUT=1"), "udevd did not classify \(device.sysname): \(database) has \(properties.sorted())")
        let classes = Set(Self.classes.filter { properties.contains("\($0)=1") })
        #expect(classes == Self.expected(role), "\(role): \(properties.sorted())")
    }

    // The E: (property) lines of a udev database entry, as NAME=value.
    private static func properties(_ path: String) -> Set<String> {
        guard let file = fopen(path, "r") else { return [] }
        defer { fclose(file) }
        var lines: Set<String> = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            var line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            while line.last == "\n" { line.removeLast() }
            if line.hasPrefix("E:") { lines.insert(String(line.dropFirst(2))) }
        }
        return lines
    }
}

/// The names in a directory, for failure messages.
func listing(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return ["(opendir: \(String(cString: strerror(errno))))"] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        names.append(withUnsafePointer(to: &entry.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        })
    }
    return names.sorted()
}

/// Where a sysfs link leads, or nil when there is nothing there.
func resolvedPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
