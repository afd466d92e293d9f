import CUInput
import Testing
@testable import DeviceManager

@Suite struct DeviceProfileTests {
    @Test(arguments: DeviceRole.allCases)
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
