import CUInput
@testable import DeviceManager
import Testing

/// A session drives a DualSense or a Switch Pro with the gamepad's own events; each pad's
/// report must say what those events say, by button position and in the pad's ranges.
@Suite struct PadControlsTests {
    private func key(_ code: Int32, _ value: Int32) -> InputEvent { InputEvent(type: UInt16(EV_KEY), code: UInt16(code), value: value) }
    private func abs(_ code: Int32, _ value: Int32) -> InputEvent { InputEvent(type: UInt16(EV_ABS), code: UInt16(code), value: value) }
    private let syn = InputEvent(type: UInt16(EV_SYN), code: UInt16(SYN_REPORT), value: 0)

    private func controls(_ events: [InputEvent]) -> (PadControls, reports: Int) {
        var controls = PadControls()
        var reports = 0
        for event in events where controls.apply(event) { reports += 1 }
        return (controls, reports)
    }

    @Test func aPressAndItsReleaseInOneBatchAreTwoFrames() {
        var controls = PadControls()
        let frames = [key(BTN_SOUTH, 1), syn, key(BTN_SOUTH, 0), syn].compactMap { controls.apply($0) ? controls.dualSense : nil }
        #expect(frames.map(\.buttons) == [[.cross], []])
    }

    @Test func aReportIsDueAtEachSynReportOnly() {
        let (_, reports) = controls([key(BTN_SOUTH, 1), abs(ABS_X, 100), syn, key(BTN_SOUTH, 0), syn, abs(ABS_Y, 5)])
        #expect(reports == 2)
    }

    @Test func theDualSenseGetsButtonsByPositionSticksAsBytesAndTriggersWithTheirButtons() {
        let (state, _) = controls([
            key(BTN_SOUTH, 1), key(BTN_WEST, 1), key(BTN_MODE, 1), key(BTN_LEFT, 1),
            abs(ABS_X, -32768), abs(ABS_Y, 32767), abs(ABS_RX, 0), abs(ABS_Z, 1023), abs(ABS_HAT0X, 1), abs(ABS_HAT0Y, -1), syn,
        ])
        let input = state.dualSense
        #expect(input.buttons == [.cross, .square, .ps, .touchpad, .l2])
        #expect(input.leftStick == DualSenseStick(x: 0, y: 255))
        #expect(input.rightStick == DualSenseStick(x: 128, y: 128))
        #expect(input.leftTrigger == 255 && input.rightTrigger == 0)
        #expect(input.dpad == .upRight)
    }

    @Test func theDualSenseTouchpadFollowsProtocolBSlots() {
        var (state, _) = controls([
            abs(ABS_MT_SLOT, 0), abs(ABS_MT_TRACKING_ID, 7), abs(ABS_MT_POSITION_X, 100), abs(ABS_MT_POSITION_Y, 50),
            abs(ABS_MT_SLOT, 1), abs(ABS_MT_TRACKING_ID, 8), abs(ABS_MT_POSITION_X, 1900), abs(ABS_MT_POSITION_Y, 1000), syn,
        ])
        #expect(state.dualSense.touches == [DualSenseTouch(id: 7, x: 100, y: 50), DualSenseTouch(id: 8, x: 1900, y: 1000)])
        _ = state.apply(abs(ABS_MT_SLOT, 0))
        _ = state.apply(abs(ABS_MT_TRACKING_ID, -1))
        #expect(state.dualSense.touches == [nil, DualSenseTouch(id: 8, x: 1900, y: 1000)])
        // A slot past the pad's two is ignored, not a crash.
        _ = state.apply(abs(ABS_MT_SLOT, 5))
        _ = state.apply(abs(ABS_MT_TRACKING_ID, 3))
        #expect(state.dualSense.touches.count == 2)
    }

    @Test func theSwitchProGetsNintendosPositionsDigitalTriggersAndAnUpwardStick() {
        let (state, _) = controls([
            key(BTN_SOUTH, 1), key(BTN_EAST, 1), key(BTN_START, 1),
            abs(ABS_Y, -32768), abs(ABS_RY, 32767), abs(ABS_Z, 600), abs(ABS_RZ, 100), abs(ABS_HAT0Y, 1), syn,
        ])
        let input = state.switchPro
        #expect(input.buttons == [.b, .a, .plus, .zl, .down])
        // evdev's y grows downwards, the pad's upwards: pushed up is high.
        #expect(input.leftStick == SwitchProStick(x: 2048, y: 4095))
        #expect(input.rightStick == SwitchProStick(x: 2048, y: 1))
    }

    @Test func neutralIsEverythingReleasedAndCentred() {
        let input = PadControls.neutral.dualSense
        #expect(input == DualSenseInput())
        #expect(PadControls.neutral.switchPro.leftStick == SwitchProStick(x: 2048, y: 2048))
        #expect(PadControls.neutral.switchPro.buttons.isEmpty)
    }
}
