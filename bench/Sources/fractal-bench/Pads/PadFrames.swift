import CUInput
import DeviceManager

/// The frame every pad path sends: both sticks moved and BTN_SOUTH (cross on the DualSense, B
/// on the Switch Pro) pressed or released, then SYN_REPORT. Frames alternate between two states
/// half the sticks' range either side of centre, far beyond any axis's fuzz, so every frame
/// changes every value and the kernel drops none as a repeat; `neutral` (centred, released)
/// differs from both, so a pass that starts after it changes ABS_X in its first frame too.
enum PadFrames {
    /// Events in a uinput frame: four axes, a button, SYN_REPORT.
    static let uinputEventsPerFrame = 6

    private static func high(_ number: Int) -> Bool { number % 2 == 0 }

    /// The uinput gamepad's frame (sticks -32768...32767).
    static func uinput(_ number: Int) -> [InputEvent] {
        let half: Int32 = high(number) ? 16384 : -16384
        return [
            .abs(UInt16(ABS_X), half), .abs(UInt16(ABS_Y), -half), .abs(UInt16(ABS_RX), -half), .abs(UInt16(ABS_RY), half),
            .key(UInt16(BTN_SOUTH), pressed: high(number)), .syn(),
        ]
    }

    static let uinputNeutral: [InputEvent] = [
        .abs(UInt16(ABS_X), 0), .abs(UInt16(ABS_Y), 0), .abs(UInt16(ABS_RX), 0), .abs(UInt16(ABS_RY), 0),
        .key(UInt16(BTN_SOUTH), pressed: false), .syn(),
    ]

    /// The DualSense's frame (sticks 0...255, centred at 128).
    static func dualSense(_ number: Int) -> DualSenseInput {
        let (up, down): (UInt8, UInt8) = high(number) ? (192, 64) : (64, 192)
        var input = DualSenseInput()
        input.leftStick = DualSenseStick(x: up, y: down)
        input.rightStick = DualSenseStick(x: down, y: up)
        if high(number) { input.buttons.insert(.cross) }
        return input
    }

    static let dualSenseNeutral = DualSenseInput()

    /// The Switch Pro's frame (12-bit sticks, centred at 2048).
    static func switchPro(_ number: Int) -> SwitchProInput {
        let (up, down): (UInt16, UInt16) = high(number) ? (3072, 1024) : (1024, 3072)
        var input = SwitchProInput()
        input.leftStick = SwitchProStick(x: up, y: down)
        input.rightStick = SwitchProStick(x: down, y: up)
        if high(number) { input.buttons.insert(.b) }
        return input
    }

    static let switchProNeutral = SwitchProInput()
}
