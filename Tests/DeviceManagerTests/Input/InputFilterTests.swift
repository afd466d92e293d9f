import CUInput
import DeviceManager
import Testing

/// The session socket's input filter: what each policy lets through, and held-key release.
@Suite struct InputFilterTests {
    static let devices = [
        InputFilter.Device(role: .keyboard, profile: .keyboard),
        InputFilter.Device(role: .mouse, profile: .mouse),
        InputFilter.Device(role: .gamepad, profile: .gamepad),
    ]

    static func key(_ code: Int32, _ value: Int32) -> InputEvent { InputEvent(type: UInt16(EV_KEY), code: UInt16(code), value: value) }
    static let syn = InputEvent.syn()

    @Test func ctrlAltF2IsDroppedWithItsRepeatsAndReleaseButCtrlAltStillReachTheDevice() {
        var filter = InputFilter(policy: .standard, devices: Self.devices)
        let down = filter.filter([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.syn, Self.key(KEY_F2, 1), Self.syn], device: 0)
        #expect(down.events == [Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.syn, Self.syn])
        #expect(down.drops.ctrlAlt == 1)
        #expect(down.firstDropped == Self.key(KEY_F2, 1))
        // The repeat and the release go too, even after Ctrl and Alt are up.
        let up = filter.filter([Self.key(KEY_F2, 2), Self.key(KEY_LEFTALT, 0), Self.key(KEY_LEFTCTRL, 0), Self.key(KEY_F2, 0), Self.syn], device: 0)
        #expect(up.events == [Self.key(KEY_LEFTALT, 0), Self.key(KEY_LEFTCTRL, 0), Self.syn])
        #expect(up.drops.ctrlAlt == 2)
        // Afterwards F2 alone is an ordinary key.
        #expect(filter.filter([Self.key(KEY_F2, 1), Self.key(KEY_F2, 0)], device: 0).events.count == 2)
    }

    @Test func ctrlAltDeleteBackspaceAndKeypadDeleteAreDroppedAndEachModifierAloneIsNot() {
        for code in [KEY_DELETE, KEY_BACKSPACE, KEY_KPDOT, KEY_F1, KEY_F12] {
            var filter = InputFilter(policy: .standard, devices: Self.devices)
            let outcome = filter.filter([Self.key(KEY_RIGHTCTRL, 1), Self.key(KEY_RIGHTALT, 1), Self.key(code, 1), Self.key(code, 0)], device: 0)
            #expect(outcome.drops.ctrlAlt == 2, "code \(code)")
        }
        var ctrlOnly = InputFilter(policy: .standard, devices: Self.devices)
        #expect(ctrlOnly.filter([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_DELETE, 1)], device: 0).drops.total == 0)
        var altOnly = InputFilter(policy: .standard, devices: Self.devices)
        #expect(altOnly.filter([Self.key(KEY_LEFTALT, 1), Self.key(KEY_F2, 1)], device: 0).drops.total == 0)
        // Ctrl+Alt+A is an ordinary shortcut.
        var shortcut = InputFilter(policy: .standard, devices: Self.devices)
        #expect(shortcut.filter([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_A, 1)], device: 0).drops.total == 0)
    }

    @Test func aRepeatCountsAsAPressAndModifiersCountOnAnyDeviceOrConnection() {
        // Value 2 of Delete never pressed: the kernel's VT handler would take it for Ctrl+Alt+Del.
        var repeats = InputFilter(policy: .standard, devices: Self.devices)
        let outcome = repeats.filter([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_DELETE, 2), Self.key(KEY_DELETE, 0)], device: 0)
        #expect(outcome.events == [Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_DELETE, 0)])
        #expect(outcome.drops.strayRepeat == 1)
        // A stray Ctrl repeat is dropped (the VT handler would keep Ctrl down for good); a held key repeats.
        var stray = InputFilter(policy: .standard, devices: Self.devices)
        let ctrl = stray.filter([Self.key(KEY_LEFTCTRL, 2), Self.key(KEY_A, 1), Self.key(KEY_A, 2)], device: 0)
        #expect(ctrl.events == [Self.key(KEY_A, 1), Self.key(KEY_A, 2)])
        #expect(stray.modifiers == .none)
        // Delete already down when Ctrl+Alt came: its repeats go, its release stays.
        var held = InputFilter(policy: .standard, devices: Self.devices)
        let sequence = held.filter([Self.key(KEY_DELETE, 1), Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_DELETE, 2), Self.key(KEY_DELETE, 0)], device: 0)
        #expect(sequence.events == [Self.key(KEY_DELETE, 1), Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_DELETE, 0)])
        // Ctrl held by another connection, Alt by this one.
        var shared = InputFilter(policy: .standard, devices: Self.devices)
        _ = shared.filter([Self.key(KEY_LEFTALT, 1)], device: 0)
        #expect(shared.modifiers == InputFilter.Modifiers(ctrl: false, alt: true))
        #expect(shared.filter([Self.key(KEY_F1, 1)], device: 0).drops.total == 0)
        #expect(shared.filter([Self.key(KEY_F3, 1)], device: 0, elsewhere: InputFilter.Modifiers(ctrl: true)).drops.ctrlAlt == 1)
    }

    @Test func sysrqPowerAndRadioKeysAreDroppedUnderEveryPolicy() {
        var filter = InputFilter(policy: .standard, devices: Self.devices)
        let outcome = filter.filter([
            Self.key(KEY_SYSRQ, 1), Self.key(KEY_SYSRQ, 0), Self.key(KEY_POWER, 1), Self.key(KEY_SLEEP, 1),
            Self.key(KEY_WAKEUP, 1), Self.key(KEY_SUSPEND, 1), Self.key(KEY_A, 1), Self.syn,
        ], device: 0)
        #expect(outcome.events == [Self.key(KEY_A, 1), Self.syn])
        #expect(outcome.drops.sysrq == 2)
        #expect(outcome.drops.powerKey == 4)
        #expect(InputFilter.powerKeys.contains(UInt16(KEY_POWER2)) && InputFilter.powerKeys.contains(UInt16(KEY_RESTART)))
        #expect(InputFilter.powerKeys.contains(UInt16(KEY_RFKILL)) && InputFilter.powerKeys.contains(UInt16(KEY_WLAN)))

        // The keyboard does not declare them, so trusted cannot send them either; Ctrl+Alt+F2 it can.
        var trusted = InputFilter(policy: .trusted, devices: Self.devices)
        let passed = trusted.filter([Self.key(KEY_SYSRQ, 1), Self.key(KEY_RFKILL, 1), Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_F2, 1)], device: 0)
        #expect(passed.drops.sysrq == 1 && passed.drops.powerKey == 1)
        #expect(passed.events.count == 3)
    }

    @Test func gamepadOnlyRefusesEveryOtherDevice() {
        var filter = InputFilter(policy: .gamepadOnly, devices: Self.devices)
        let keyboard = filter.filter([Self.key(KEY_A, 1), Self.syn], device: 0)
        #expect(keyboard.refused == .deviceRefused)
        #expect(keyboard.events.isEmpty && keyboard.drops.deviceRefused == 2)
        #expect(filter.filter([.rel(UInt16(REL_X), 5), Self.syn], device: 1).refused == .deviceRefused)
        let gamepad = filter.filter([Self.key(BTN_SOUTH, 1), .abs(UInt16(ABS_X), 1000), Self.syn], device: 2)
        #expect(gamepad.refused == nil && gamepad.events.count == 3)
    }

    @Test func eventsOutsideTheDeclaredCapabilitiesAreDroppedUnderEveryPolicy() {
        for policy in InputPolicy.allCases {
            var filter = InputFilter(policy: policy, devices: Self.devices)
            // The gamepad has no KEY_A, no REL_X; nothing may send SYN_DROPPED, EV_FF, EV_LED or a key value of 7.
            let outcome = filter.filter([
                Self.key(KEY_A, 1), .rel(UInt16(REL_X), 1), InputEvent(type: UInt16(EV_SYN), code: UInt16(SYN_DROPPED), value: 0),
                InputEvent(type: UInt16(EV_FF), code: UInt16(FF_RUMBLE), value: 1), InputEvent(type: UInt16(EV_LED), code: 0, value: 1),
                Self.key(BTN_SOUTH, 7), InputEvent(type: 0x1f, code: 0, value: 0), .abs(UInt16(ABS_MT_SLOT), 0),
                Self.key(BTN_SOUTH, 1), Self.syn,
            ], device: 2)
            #expect(outcome.drops.capability == 8, "\(policy)")
            #expect(outcome.events == [Self.key(BTN_SOUTH, 1), Self.syn], "\(policy)")
        }
    }

    @Test func aBadDeviceIndexRefusesTheBatch() {
        var filter = InputFilter(policy: .trusted, devices: Self.devices)
        let outcome = filter.filter([Self.key(KEY_A, 1)], device: 3)
        #expect(outcome.refused == .noSuchDevice && outcome.events.isEmpty && outcome.drops.noSuchDevice == 1)
    }

    @Test func releaseAllLetsGoOfEveryHeldKeyPerDeviceWithASynAndForgetsThem() {
        var filter = InputFilter(policy: .standard, devices: Self.devices)
        _ = filter.filter([Self.key(KEY_LEFTSHIFT, 1), Self.key(KEY_A, 1), Self.key(KEY_A, 0), Self.key(KEY_B, 1), Self.key(KEY_B, 2)], device: 0)
        _ = filter.filter([Self.key(BTN_LEFT, 1)], device: 1)
        // A dropped press is not held.
        _ = filter.filter([Self.key(KEY_SYSRQ, 1)], device: 0)
        #expect(filter.holdsKeys)
        let releases = filter.releaseAll()
        #expect(releases.map(\.device) == [0, 1])
        #expect(releases[0].events == [Self.key(KEY_LEFTSHIFT, 0), Self.key(KEY_B, 0), Self.syn])
        #expect(releases[1].events == [Self.key(BTN_LEFT, 0), Self.syn])
        #expect(!filter.holdsKeys)
        #expect(filter.releaseAll().isEmpty)
    }

    /// A uhid pad's descriptor is /dev/uhid's, which answers its driver: no policy hands it off.
    @Test func noPolicyHandsOffAPadsDescriptor() {
        for role in DeviceRole.allCases where role.isHIDPad {
            for policy in InputPolicy.allCases {
                #expect(policy.withholdReason(role: role, profile: .forRole(role))?.contains("never handed off") == true, "\(policy) \(role)")
            }
        }
    }

    @Test func onlyTrustedGetsUInputDescriptors() {
        for role in DeviceRole.uinputRoles {
            let profile = DeviceProfile.forRole(role)
            #expect(InputPolicy.trusted.withholdReason(role: role, profile: profile) == nil)
            #expect(InputPolicy.standard.withholdReason(role: role, profile: profile)?.hasPrefix("policy default hands off no uinput fd") == true)
            #expect(InputPolicy.gamepadOnly.withholdReason(role: role, profile: profile)?.hasPrefix("policy gamepad-only hands off no uinput fd") == true)
        }
    }
}
