import CUInput
import Testing
@testable import DeviceManager

@Suite struct DeviceProfileTests {
    @Test(arguments: DeviceRole.uinputRoles)
    func builtInProfileValidates(role: DeviceRole) throws {
        let profile = DeviceProfile.forRole(role)
        try profile.validate()
        #expect(profile.name.hasPrefix("Fractal Virtual "))
    }

    @Test func everyRoleHasItsOwnProfile() {
        let names = Set(DeviceRole.allCases.map { DeviceProfile.forRole($0).name })
        #expect(names.count == DeviceRole.allCases.count)
        #expect(DeviceProfile.forRole(.gamepad) == .gamepad)
    }

    @Test func keyboardHasEveryPCKeyAndItsLEDs() {
        let keys = Set(DeviceProfile.keyboard.codes[UInt16(EV_KEY)] ?? [])
        for key in [KEY_ESC, KEY_A, KEY_ENTER, KEY_F1, KEY_F12, KEY_F13, KEY_F24, KEY_KPDOT, KEY_ZENKAKUHANKAKU,
                    KEY_MUTE, KEY_VOLUMEUP, KEY_PLAYPAUSE, KEY_PRINT, KEY_BRIGHTNESSUP, KEY_MICMUTE] {
            #expect(keys.contains(UInt16(key)), "missing \(key)")
        }
        // Keys the host acts on are not declared: the kernel then refuses them from any writer.
        for hostKey in HostActingKeys.all { #expect(!keys.contains(hostKey), "host key \(hostKey) declared") }
        #expect(HostActingKeys.all.isSuperset(of: [UInt16(KEY_SYSRQ), UInt16(KEY_POWER), UInt16(KEY_SLEEP), UInt16(KEY_RFKILL)]))
        // Unassigned codes and buttons (which would make udev call it a mouse or joystick) are out.
        for absent in [84, 195, 199, Int(BTN_LEFT), Int(BTN_SOUTH)] {
            #expect(!keys.contains(UInt16(absent)), "unexpected \(absent)")
        }
        #expect(Set(DeviceProfile.keyboard.codes[UInt16(EV_LED)] ?? []) == [UInt16(LED_NUML), UInt16(LED_CAPSL), UInt16(LED_SCROLLL)])
        #expect(DeviceProfile.keyboard.codes[UInt16(EV_MSC)] == [UInt16(MSC_SCAN)])
        #expect(DeviceProfile.keyboard.codes[UInt16(EV_REP)] == [])
    }

    @Test func mouseHasButtonsAndHighResolutionWheels() {
        let profile = DeviceProfile.mouse
        let buttons = Set(profile.codes[UInt16(EV_KEY)] ?? [])
        #expect(buttons.isSuperset(of: [BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA].map { UInt16($0) }))
        let rel = Set(profile.codes[UInt16(EV_REL)] ?? [])
        #expect(rel == Set([REL_X, REL_Y, REL_WHEEL, REL_HWHEEL, REL_WHEEL_HI_RES, REL_HWHEEL_HI_RES].map { UInt16($0) }))
        #expect(profile.axes.isEmpty)
    }

    @Test func tabletIsAnAbsolutePointerNotATouchscreenOrPen() {
        let profile = DeviceProfile.tablet
        let keys = Set(profile.codes[UInt16(EV_KEY)] ?? [])
        #expect(keys.contains(UInt16(BTN_LEFT)))
        // Any of these would make udev's input_id call it a touchscreen or a drawing tablet.
        #expect(!keys.contains(UInt16(BTN_TOUCH)))
        #expect(!keys.contains(UInt16(BTN_TOOL_PEN)))
        #expect(!keys.contains(UInt16(BTN_STYLUS)))
        #expect(!profile.properties.contains(UInt16(INPUT_PROP_DIRECT)))
        // joydev's absolute-mouse signature, or it makes the tablet a joystick (jsN):
        // event types exactly SYN, KEY, ABS (+ MSC, + MSC and REL), axes exactly X and Y,
        // keys exactly the three mouse buttons.
        #expect(Set(profile.codes.keys) == Set([EV_KEY, EV_REL, EV_MSC].map { UInt16($0) }))
        #expect(keys == Set([BTN_LEFT, BTN_RIGHT, BTN_MIDDLE].map { UInt16($0) }))
        #expect(Set(profile.axes.map(\.code)) == [UInt16(ABS_X), UInt16(ABS_Y)])
        #expect(profile.codes[UInt16(EV_REL)]?.contains(UInt16(REL_WHEEL)) == true)
        for code in [ABS_X, ABS_Y] {
            let axis = profile.axes.first { $0.code == UInt16(code) }
            #expect(axis?.minimum == 0)
            #expect(axis?.maximum == 65535)
            #expect((axis?.resolution ?? 0) > 0)
        }
    }

    @Test func gamepadIsAnXboxOneControllerWithRumble() {
        let profile = DeviceProfile.gamepad
        #expect(profile.bus == UInt16(BUS_USB))
        #expect((profile.vendor, profile.product, profile.version) == (0x045e, 0x02ea, 0x0408))
        let buttons = Set(profile.codes[UInt16(EV_KEY)] ?? [])
        #expect(buttons == Set([BTN_SOUTH, BTN_EAST, BTN_NORTH, BTN_WEST, BTN_TL, BTN_TR, BTN_SELECT, BTN_START,
                                BTN_MODE, BTN_THUMBL, BTN_THUMBR].map { UInt16($0) }))
        func axis(_ code: Int32) -> AbsoluteAxis? { profile.axes.first { $0.code == UInt16(code) } }
        for stick in [ABS_X, ABS_Y, ABS_RX, ABS_RY] {
            #expect(axis(stick) == AbsoluteAxis(code: UInt16(stick), minimum: -32768, maximum: 32767, fuzz: 16, flat: 128))
        }
        for trigger in [ABS_Z, ABS_RZ] {
            #expect(axis(trigger)?.minimum == 0)
            #expect(axis(trigger)?.maximum == 1023)
        }
        for hat in [ABS_HAT0X, ABS_HAT0Y] {
            #expect(axis(hat)?.minimum == -1)
            #expect(axis(hat)?.maximum == 1)
        }
        #expect(profile.codes[UInt16(EV_FF)]?.contains(UInt16(FF_RUMBLE)) == true)
        #expect(profile.ffEffectsMax == 16)
    }

    @Test func touchscreenSpeaksMultitouchProtocolB() {
        let profile = DeviceProfile.touchscreen
        let axes = Dictionary(uniqueKeysWithValues: profile.axes.map { (Int32($0.code), $0) })
        #expect(axes[ABS_MT_SLOT]?.minimum == 0)
        #expect(axes[ABS_MT_SLOT]?.maximum == 9)
        for code in [ABS_MT_TRACKING_ID, ABS_MT_POSITION_X, ABS_MT_POSITION_Y, ABS_X, ABS_Y] {
            #expect(axes[code] != nil, "missing axis \(code)")
        }
        #expect(profile.codes[UInt16(EV_KEY)]?.contains(UInt16(BTN_TOUCH)) == true)
        #expect(profile.properties == [UInt16(INPUT_PROP_DIRECT)])
    }

    /// What libinput's tablet code needs (evdev-tablet.c): ABS_X/ABS_Y with a resolution and a
    /// pen tool or stylus button, else "missing tablet capabilities"; pressure, distance and tilt
    /// for a tool that has them; a tilt resolution (units per radian) for tilt in degrees.
    @Test func penIsADisplayTabletWithPressureTiltDistanceEraserAndBarrelButtons() {
        let profile = DeviceProfile.pen
        #expect(Set(profile.codes.keys) == [UInt16(EV_KEY)])
        let keys = Set(profile.codes[UInt16(EV_KEY)] ?? [])
        #expect(keys == Set([BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_TOUCH, BTN_STYLUS, BTN_STYLUS2].map { UInt16($0) }))
        // A mouse button would make udev's input_id call it a mouse too, and a finger a touchpad.
        #expect(!keys.contains(UInt16(BTN_LEFT)) && !keys.contains(UInt16(BTN_TOOL_FINGER)))
        let axes = Dictionary(uniqueKeysWithValues: profile.axes.map { (Int32($0.code), $0) })
        #expect(Set(axes.keys) == [ABS_X, ABS_Y, ABS_PRESSURE, ABS_DISTANCE, ABS_TILT_X, ABS_TILT_Y])
        for code in [ABS_X, ABS_Y] {
            #expect(axes[code] == AbsoluteAxis(code: UInt16(code), minimum: 0, maximum: 65535, resolution: 100))
        }
        #expect(axes[ABS_PRESSURE]?.minimum == 0)
        #expect(axes[ABS_PRESSURE]?.maximum == 4095)
        #expect(axes[ABS_DISTANCE]?.minimum == 0)
        #expect((axes[ABS_DISTANCE]?.maximum ?? 0) > 0)
        for code in [ABS_TILT_X, ABS_TILT_Y] {
            let tilt = axes[code]
            // Hundredths of a degree either way of upright; 1000 units read as 10 degrees.
            #expect(tilt?.minimum == -9000 && tilt?.maximum == 9000)
            let degrees = 180.0 / Double.pi * 1000 / Double(tilt?.resolution ?? 1)
            #expect(abs(degrees - 10) < 0.01, "\(degrees)")
        }
        #expect(profile.properties == [UInt16(INPUT_PROP_DIRECT)])
        #expect(profile.ffEffectsMax == 0)
    }

    /// What libinput's touchpad code needs (evdev-mt-touchpad.c): protocol B slots (more than one,
    /// for gestures), BTN_TOOL_* finger counts, positions with a resolution (its thresholds are
    /// in mm), and INPUT_PROP_BUTTONPAD for a clickpad; no INPUT_PROP_DIRECT, or it is a touchscreen.
    @Test func trackpadIsAFiveFingerClickpad() {
        let profile = DeviceProfile.trackpad
        #expect(Set(profile.codes.keys) == [UInt16(EV_KEY)])
        let keys = Set(profile.codes[UInt16(EV_KEY)] ?? [])
        #expect(keys == Set([BTN_LEFT, BTN_TOUCH, BTN_TOOL_FINGER, BTN_TOOL_DOUBLETAP, BTN_TOOL_TRIPLETAP,
                             BTN_TOOL_QUADTAP, BTN_TOOL_QUINTTAP].map { UInt16($0) }))
        #expect(!keys.contains(UInt16(BTN_TOOL_PEN)) && !keys.contains(UInt16(BTN_STYLUS)))
        let axes = Dictionary(uniqueKeysWithValues: profile.axes.map { (Int32($0.code), $0) })
        #expect(Set(axes.keys) == [ABS_X, ABS_Y, ABS_MT_SLOT, ABS_MT_TRACKING_ID, ABS_MT_POSITION_X, ABS_MT_POSITION_Y])
        #expect(axes[ABS_MT_SLOT] == AbsoluteAxis(code: UInt16(ABS_MT_SLOT), minimum: 0, maximum: 4))
        #expect(axes[ABS_MT_TRACKING_ID]?.minimum == 0)
        #expect(axes[ABS_MT_TRACKING_ID]?.maximum == 65535)
        for (single, multi) in [(ABS_X, ABS_MT_POSITION_X), (ABS_Y, ABS_MT_POSITION_Y)] {
            #expect(axes[single]?.minimum == 0 && axes[single]?.maximum == 65535)
            // The pointer-emulation axis and the slots' axis describe the same surface.
            #expect(axes[single].map { [$0.minimum, $0.maximum, $0.resolution] } == axes[multi].map { [$0.minimum, $0.maximum, $0.resolution] })
        }
        // 128 × 80 mm: a large laptop touchpad, in whole millimetres.
        let width = Double(axes[ABS_X]?.maximum ?? 0) / Double(axes[ABS_X]?.resolution ?? 1)
        let height = Double(axes[ABS_Y]?.maximum ?? 0) / Double(axes[ABS_Y]?.resolution ?? 1)
        #expect(abs(width - 128) < 0.5 && abs(height - 80) < 0.5, "\(width) × \(height) mm")
        #expect(Set(profile.properties) == [UInt16(INPUT_PROP_POINTER), UInt16(INPUT_PROP_BUTTONPAD)])
    }

    @Test func penAndTrackpadAreVirtualDevicesWithIDsOfTheirOwn() {
        let ids = DeviceRole.allCases.map { role -> [UInt16] in
            let profile = DeviceProfile.forRole(role)
            return [profile.bus, profile.vendor, profile.product]
        }
        #expect(Set(ids).count == ids.count)
        #expect((DeviceProfile.pen.bus, DeviceProfile.pen.vendor, DeviceProfile.pen.product) == (UInt16(BUS_VIRTUAL), 0, 5))
        #expect((DeviceProfile.trackpad.bus, DeviceProfile.trackpad.vendor, DeviceProfile.trackpad.product) == (UInt16(BUS_VIRTUAL), 0, 6))
        #expect(DeviceProfile.forRole(.pen).name == "Fractal Virtual Pen")
        #expect(DeviceProfile.forRole(.trackpad).name == "Fractal Virtual Trackpad")
    }

    /// What a streaming server sends these devices is within their declared capabilities, so
    /// the session socket's filter passes it whole under the default policy.
    @Test func aPenStrokeAndATwoFingerScrollPassTheDefaultFilterWhole() {
        func c(_ value: Int32) -> UInt16 { UInt16(value) }
        let stroke: [InputEvent] = [
            .key(c(BTN_TOOL_PEN), pressed: true), .abs(c(ABS_X), 30000), .abs(c(ABS_Y), 20000), .abs(c(ABS_DISTANCE), 40), .syn(),
            .key(c(BTN_TOUCH), pressed: true), .abs(c(ABS_DISTANCE), 0), .abs(c(ABS_PRESSURE), 2048),
            .abs(c(ABS_TILT_X), 1000), .abs(c(ABS_TILT_Y), -500), .key(c(BTN_STYLUS2), pressed: true), .syn(),
            .key(c(BTN_TOOL_RUBBER), pressed: true), .key(c(BTN_TOOL_PEN), pressed: false), .syn(),
        ]
        let scroll: [InputEvent] = [
            .abs(c(ABS_MT_SLOT), 0), .abs(c(ABS_MT_TRACKING_ID), 1), .abs(c(ABS_MT_POSITION_X), 25000), .abs(c(ABS_MT_POSITION_Y), 20000),
            .abs(c(ABS_MT_SLOT), 1), .abs(c(ABS_MT_TRACKING_ID), 2), .abs(c(ABS_MT_POSITION_X), 40000), .abs(c(ABS_MT_POSITION_Y), 20000),
            .key(c(BTN_TOUCH), pressed: true), .key(c(BTN_TOOL_DOUBLETAP), pressed: true), .abs(c(ABS_X), 25000), .abs(c(ABS_Y), 20000), .syn(),
            .abs(c(ABS_MT_SLOT), 0), .abs(c(ABS_MT_TRACKING_ID), -1), .key(c(BTN_LEFT), pressed: true), .key(c(BTN_LEFT), pressed: false), .syn(),
        ]
        var filter = InputFilter(policy: .standard, devices: [
            InputFilter.Device(role: .pen, profile: .pen), InputFilter.Device(role: .trackpad, profile: .trackpad),
        ])
        for (index, events) in [stroke, scroll].enumerated() {
            let outcome = filter.filter(events, device: index)
            #expect(outcome.events == events)
            #expect(outcome.drops.total == 0 && outcome.refused == nil, "\(String(describing: outcome.firstDropped))")
        }
        // Neither device sends what the other declares.
        let crossed = filter.filter([.key(c(BTN_TOOL_FINGER), pressed: true), .abs(c(ABS_MT_SLOT), 1), .syn()], device: 0)
        #expect(crossed.events == [.syn()] && crossed.drops.capability == 2)
    }

    // MARK: refusals

    private var valid: DeviceProfile { .mouse }

    @Test func minimumAboveMaximumIsRefused() {
        var profile = DeviceProfile.tablet
        profile.axes[0].minimum = 10
        profile.axes[0].maximum = 5
        #expect(throws: DeviceProfileError.axisRange(code: UInt16(ABS_X), minimum: 10, maximum: 5)) {
            try profile.validate()
        }
        let message = DeviceProfileError.axisRange(code: UInt16(ABS_X), minimum: 10, maximum: 5).description
        #expect(message.contains("ABS_X"))
    }

    @Test func emptyNameIsRefused() {
        var profile = valid
        profile.name = ""
        #expect(throws: DeviceProfileError.emptyName) { try profile.validate() }
    }

    @Test func eightyByteNameIsRefusedAndSeventyNineAccepted() throws {
        var profile = valid
        profile.name = String(repeating: "n", count: 80)
        #expect(throws: DeviceProfileError.nameTooLong(profile.name, bytes: 80, limit: 79)) { try profile.validate() }
        profile.name = String(repeating: "n", count: 79)
        try profile.validate()
        // Bytes, not characters: 40 two-byte characters are 80 bytes.
        profile.name = String(repeating: "é", count: 40)
        #expect(throws: DeviceProfileError.nameTooLong(profile.name, bytes: 80, limit: 79)) { try profile.validate() }
    }

    @Test func nulInNameIsRefused() {
        var profile = valid
        profile.name = "Fractal\0Mouse"
        #expect(throws: DeviceProfileError.nulByte(field: "name")) { try profile.validate() }
    }

    @Test func unknownCodeIsRefused() {
        var profile = valid
        profile.codes[UInt16(EV_KEY)]!.append(UInt16(KEY_MAX) + 1)
        #expect(throws: DeviceProfileError.unknownCode(type: UInt16(EV_KEY), code: UInt16(KEY_MAX) + 1)) {
            try profile.validate()
        }
        profile = valid
        profile.codes[UInt16(EV_REL)] = [UInt16(REL_MAX) + 1]
        #expect(throws: DeviceProfileError.unknownCode(type: UInt16(EV_REL), code: UInt16(REL_MAX) + 1)) {
            try profile.validate()
        }
        var tablet = DeviceProfile.tablet
        tablet.axes.append(AbsoluteAxis(code: UInt16(ABS_MAX) + 1, minimum: 0, maximum: 1))
        #expect(throws: DeviceProfileError.unknownCode(type: UInt16(EV_ABS), code: UInt16(ABS_MAX) + 1)) {
            try tablet.validate()
        }
        let message = DeviceProfileError.unknownCode(type: UInt16(EV_KEY), code: 0x300).description
        #expect(message.contains("EV_KEY") && message.contains("0x300"))
    }

    @Test func unsupportedTypesAndPropertiesAreRefused() {
        var profile = valid
        profile.codes[UInt16(EV_ABS)] = [UInt16(ABS_X)]
        #expect(throws: DeviceProfileError.unsupportedEventType(UInt16(EV_ABS))) { try profile.validate() }
        profile = valid
        profile.codes[0x10] = [0]
        #expect(throws: DeviceProfileError.unsupportedEventType(0x10)) { try profile.validate() }
        profile = valid
        profile.codes[UInt16(EV_REP)] = [UInt16(REP_DELAY)]
        #expect(throws: DeviceProfileError.unknownCode(type: UInt16(EV_REP), code: UInt16(REP_DELAY))) {
            try profile.validate()
        }
        profile = valid
        profile.properties = [UInt16(INPUT_PROP_MAX) + 1]
        #expect(throws: DeviceProfileError.unknownProperty(UInt16(INPUT_PROP_MAX) + 1)) { try profile.validate() }
    }

    @Test func zeroCapabilitiesAreRefused() {
        let empty = DeviceProfile(name: "Nothing", bus: 0, vendor: 0, product: 0, version: 0, codes: [:])
        #expect(throws: DeviceProfileError.noCapabilities(name: "Nothing")) { try empty.validate() }
        // Autorepeat alone, or types with no codes, are still nothing.
        let hollow = DeviceProfile(
            name: "Hollow", bus: 0, vendor: 0, product: 0, version: 0,
            codes: [UInt16(EV_REP): [], UInt16(EV_KEY): []]
        )
        #expect(throws: DeviceProfileError.noCapabilities(name: "Hollow")) { try hollow.validate() }
    }

    @Test func forceFeedbackNeedsEffectSlotsAndViceVersa() {
        var profile = DeviceProfile.gamepad
        profile.ffEffectsMax = 0
        #expect(throws: DeviceProfileError.forceFeedbackMismatch(ffEffectsMax: 0)) { try profile.validate() }
        profile = valid
        profile.ffEffectsMax = 4
        #expect(throws: DeviceProfileError.forceFeedbackMismatch(ffEffectsMax: 4)) { try profile.validate() }
    }
}
