import CUInput
import Testing
@testable import DeviceManager

@Suite struct InputEventTests {
    @Test func constructorsFillTypeCodeAndValue() {
        #expect(InputEvent.key(UInt16(KEY_A), pressed: true) == InputEvent(type: UInt16(EV_KEY), code: UInt16(KEY_A), value: 1))
        #expect(InputEvent.key(UInt16(BTN_LEFT), pressed: false) == InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_LEFT), value: 0))
        #expect(InputEvent.syn() == InputEvent(type: UInt16(EV_SYN), code: UInt16(SYN_REPORT), value: 0))
        #expect(InputEvent.rel(UInt16(REL_X), -5) == InputEvent(type: UInt16(EV_REL), code: UInt16(REL_X), value: -5))
        #expect(InputEvent.abs(UInt16(ABS_MT_SLOT), 3) == InputEvent(type: UInt16(EV_ABS), code: UInt16(ABS_MT_SLOT), value: 3))
    }

    @Test func descriptionUsesKernelNames() {
        #expect(InputEvent.key(UInt16(KEY_A), pressed: true).description == "EV_KEY KEY_A 1")
        #expect(InputEvent(type: 0x10, code: 7, value: 2).description == "type 16 code 7 2")
    }

    @Test func rolesRoundTripAsTheirNames() throws {
        #expect(DeviceRole.allCases.map(\.rawValue) == ["keyboard", "mouse", "tablet", "gamepad", "touchscreen", "pen", "trackpad", "dualsense", "switch-pro"])
        #expect(DeviceRole(rawValue: "joystick") == nil)
    }
}
