import CUInput

/// What a session holds on a pad, gathered from the events it writes: the gamepad's own codes
/// (`DeviceProfile.gamepad`'s buttons, sticks, triggers and hat), and for a DualSense its
/// touchpad's two fingers (protocol B). One client drives every pad type alike; each pad's
/// report is made from this state at every SYN_REPORT.
struct PadControls: Hashable, Sendable {
    /// Pressed button codes (BTN_SOUTH, ...).
    var buttons: Set<UInt16> = []
    /// Stick, trigger and hat values by ABS code, in the gamepad profile's ranges.
    var axes: [UInt16: Int32] = [:]
    /// Touchpad slots: the finger's tracking ID and position, nil where none is down.
    var touches: [TouchSlot?] = [nil, nil]
    var slot = 0

    struct TouchSlot: Hashable, Sendable {
        var trackingID: Int32
        var x: Int32 = 0
        var y: Int32 = 0
    }

    /// Takes one event; true at SYN_REPORT, when a report is due.
    mutating func apply(_ event: InputEvent) -> Bool {
        switch Int32(event.type) {
        case EV_SYN:
            return Int32(event.code) == SYN_REPORT
        case EV_KEY:
            if event.value == 0 { buttons.remove(event.code) } else { buttons.insert(event.code) }
        case EV_ABS:
            applyAbsolute(event.code, event.value)
        default:
            break
        }
        return false
    }

    private mutating func applyAbsolute(_ code: UInt16, _ value: Int32) {
        switch Int32(code) {
        case ABS_MT_SLOT:
            slot = Int(value)
        case ABS_MT_TRACKING_ID:
            guard touches.indices.contains(slot) else { return }
            touches[slot] = value < 0 ? nil : TouchSlot(trackingID: value)
        case ABS_MT_POSITION_X:
            if touches.indices.contains(slot) { touches[slot]?.x = value }
        case ABS_MT_POSITION_Y:
            if touches.indices.contains(slot) { touches[slot]?.y = value }
        default:
            axes[code] = value
        }
    }

    /// Everything released, sticks centred.
    static let neutral = PadControls()

    func pressed(_ code: Int32) -> Bool { buttons.contains(UInt16(code)) }

    /// An axis in the gamepad profile's range: sticks -32768...32767, triggers 0...1023, hat -1...1.
    func axis(_ code: Int32) -> Int32 { axes[UInt16(code)] ?? 0 }

    /// A stick axis as 0...255 (the DualSense's), 128 at rest.
    func byteStick(_ code: Int32) -> UInt8 { UInt8(clamping: (Int(axis(code)) + 32768) >> 8) }

    /// A stick axis as 0...4095 (the Switch Pro's), 2048 at rest.
    func twelveBitStick(_ code: Int32) -> UInt16 { UInt16(clamping: (Int(axis(code)) + 32768) >> 4) }

    /// A trigger (0...1023) as 0...255.
    func byteTrigger(_ code: Int32) -> UInt8 { UInt8(clamping: Int(axis(code)) >> 2) }

    /// The DualSense's state: the gamepad's codes by position (BTN_SOUTH is cross), the
    /// triggers' buttons pressed with any pressure, BTN_LEFT pressing the touchpad.
    var dualSense: DualSenseInput {
        var input = DualSenseInput()
        input.leftStick = DualSenseStick(x: byteStick(ABS_X), y: byteStick(ABS_Y))
        input.rightStick = DualSenseStick(x: byteStick(ABS_RX), y: byteStick(ABS_RY))
        input.leftTrigger = byteTrigger(ABS_Z)
        input.rightTrigger = byteTrigger(ABS_RZ)
        input.dpad = dpad
        let mapping: [(Int32, DualSenseButtons)] = [
            (BTN_SOUTH, .cross), (BTN_EAST, .circle), (BTN_NORTH, .triangle), (BTN_WEST, .square),
            (BTN_TL, .l1), (BTN_TR, .r1), (BTN_SELECT, .create), (BTN_START, .options), (BTN_MODE, .ps),
            (BTN_THUMBL, .l3), (BTN_THUMBR, .r3), (BTN_LEFT, .touchpad),
        ]
        for (code, button) in mapping where pressed(code) { input.buttons.insert(button) }
        if input.leftTrigger > 0 { input.buttons.insert(.l2) }
        if input.rightTrigger > 0 { input.buttons.insert(.r2) }
        input.touches = touches.map { touch in
            touch.map {
                DualSenseTouch(
                    id: UInt8(truncatingIfNeeded: $0.trackingID & 0x7F), x: UInt16(clamping: $0.x), y: UInt16(clamping: $0.y))
            }
        }
        return input
    }

    /// The Switch Pro's state: the gamepad's codes by position (BTN_SOUTH is B, BTN_EAST A), ZL
    /// and ZR pressed past half the trigger, the stick's y turned upwards as the pad reports it.
    var switchPro: SwitchProInput {
        var input = SwitchProInput()
        func upwards(_ code: Int32) -> UInt16 { UInt16(min(4095, 4096 - Int(twelveBitStick(code)))) }
        input.leftStick = SwitchProStick(x: twelveBitStick(ABS_X), y: upwards(ABS_Y))
        input.rightStick = SwitchProStick(x: twelveBitStick(ABS_RX), y: upwards(ABS_RY))
        let mapping: [(Int32, SwitchProButtons)] = [
            (BTN_SOUTH, .b), (BTN_EAST, .a), (BTN_NORTH, .x), (BTN_WEST, .y),
            (BTN_TL, .l), (BTN_TR, .r), (BTN_SELECT, .minus), (BTN_START, .plus), (BTN_MODE, .home),
            (BTN_THUMBL, .leftStick), (BTN_THUMBR, .rightStick),
        ]
        for (code, button) in mapping where pressed(code) { input.buttons.insert(button) }
        if axis(ABS_Z) >= 512 { input.buttons.insert(.zl) }
        if axis(ABS_RZ) >= 512 { input.buttons.insert(.zr) }
        let (x, y) = (axis(ABS_HAT0X), axis(ABS_HAT0Y))
        if x < 0 { input.buttons.insert(.left) }
        if x > 0 { input.buttons.insert(.right) }
        if y < 0 { input.buttons.insert(.up) }
        if y > 0 { input.buttons.insert(.down) }
        return input
    }

    /// The hat as the DualSense's eight directions (y grows downwards, as evdev's).
    var dpad: DualSenseDPad {
        switch (axis(ABS_HAT0X).signum(), axis(ABS_HAT0Y).signum()) {
        case (0, -1): .up
        case (1, -1): .upRight
        case (1, 0): .right
        case (1, 1): .downRight
        case (0, 1): .down
        case (-1, 1): .downLeft
        case (-1, 0): .left
        case (-1, -1): .upLeft
        default: .neutral
        }
    }
}
