import CUInput

// The built-in profiles, one per role. The capabilities follow what udev's input_id builtin
// and libinput look for, so each device is classified as its role without any udev hint;
// the identities are those of devices desktops and games already know.
extension DeviceProfile {
    /// The built-in profile for `role`.
    public static func forRole(_ role: DeviceRole) -> DeviceProfile {
        switch role {
        case .keyboard: return .keyboard
        case .mouse: return .mouse
        case .tablet: return .tablet
        case .gamepad: return .gamepad
        case .touchscreen: return .touchscreen
        }
    }

    /// A full PC keyboard: every assigned key from KEY_ESC to KEY_MICMUTE (letters, F1–F24,
    /// keypad, media and brightness keys) but the keys that act on the host (`HostActingKeys`:
    /// SysRq, power and radio keys), the Num/Caps/Scroll Lock LEDs, scan codes and kernel
    /// autorepeat.
    public static let keyboard = DeviceProfile(
        name: "Fractal Virtual Keyboard",
        bus: UInt16(BUS_VIRTUAL),
        vendor: 0x0000,
        product: 0x0001,
        version: 0x0001,
        codes: [
            // 84 and 195...199 have no key assigned.
            UInt16(EV_KEY): (codes(KEY_ESC...KEY_KPDOT)
                + codes(KEY_ZENKAKUHANKAKU...KEY_F24)
                + codes(KEY_PLAYCD...KEY_MICMUTE)).filter { !HostActingKeys.all.contains($0) },
            UInt16(EV_MSC): codes(MSC_SCAN),
            UInt16(EV_LED): codes(LED_NUML, LED_CAPSL, LED_SCROLLL),
            UInt16(EV_REP): [],
        ]
    )

    /// A five-button wheel mouse with high-resolution scrolling (send REL_WHEEL_HI_RES in
    /// 120ths of a notch alongside REL_WHEEL, as real mice do).
    public static let mouse = DeviceProfile(
        name: "Fractal Virtual Mouse",
        bus: UInt16(BUS_VIRTUAL),
        vendor: 0x0000,
        product: 0x0002,
        version: 0x0001,
        codes: [
            UInt16(EV_KEY): codes(BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA, BTN_FORWARD, BTN_BACK),
            UInt16(EV_REL): codes(REL_X, REL_Y, REL_WHEEL, REL_HWHEEL, REL_WHEEL_HI_RES, REL_HWHEEL_HI_RES),
        ]
    )

    /// An absolute pointer, like QEMU's USB tablet: ABS_X/ABS_Y over 0...65535 mapped onto the
    /// whole screen, mouse buttons, a wheel and scan codes. With no BTN_TOUCH, no pen tool and
    /// no INPUT_PROP_DIRECT, udev tags it ID_INPUT_MOUSE and libinput drives the cursor with it.
    public static let tablet = DeviceProfile(
        name: "Fractal Virtual Tablet",
        bus: UInt16(BUS_VIRTUAL),
        vendor: 0x0000,
        product: 0x0003,
        version: 0x0001,
        codes: [
            UInt16(EV_KEY): codes(BTN_LEFT, BTN_RIGHT, BTN_MIDDLE),
            UInt16(EV_REL): codes(REL_WHEEL, REL_HWHEEL),
            // Not for the scan codes: joydev takes a device with ABS_X for a joystick (and makes
            // it a jsN) unless its event types match an absolute mouse's exactly, and with EV_REL
            // that means EV_MSC too, as on QEMU's and VMware's USB tablets.
            UInt16(EV_MSC): codes(MSC_SCAN),
        ],
        axes: [
            // 100 units/mm: a plausible 655 mm screen for software that asks for a size.
            AbsoluteAxis(code: UInt16(ABS_X), minimum: 0, maximum: 65535, resolution: 100),
            AbsoluteAxis(code: UInt16(ABS_Y), minimum: 0, maximum: 65535, resolution: 100),
        ]
    )

    /// An Xbox One S controller (USB 045e:02ea, as the kernel's xpad driver presents it), which
    /// SDL2 and Steam map as a game controller by its ids, with rumble.
    public static let gamepad = DeviceProfile(
        name: "Fractal Virtual Gamepad",
        bus: UInt16(BUS_USB),
        vendor: 0x045e,
        product: 0x02ea,
        version: 0x0408,
        codes: [
            UInt16(EV_KEY): codes(
                BTN_SOUTH, BTN_EAST, BTN_NORTH, BTN_WEST, BTN_TL, BTN_TR,
                BTN_SELECT, BTN_START, BTN_MODE, BTN_THUMBL, BTN_THUMBR
            ),
            UInt16(EV_FF): codes(FF_RUMBLE),
        ],
        axes: [
            stick(ABS_X), stick(ABS_Y), stick(ABS_RX), stick(ABS_RY),
            AbsoluteAxis(code: UInt16(ABS_Z), minimum: 0, maximum: 1023),
            AbsoluteAxis(code: UInt16(ABS_RZ), minimum: 0, maximum: 1023),
            AbsoluteAxis(code: UInt16(ABS_HAT0X), minimum: -1, maximum: 1),
            AbsoluteAxis(code: UInt16(ABS_HAT0Y), minimum: -1, maximum: 1),
        ],
        ffEffectsMax: 16
    )

    /// A ten-finger multitouch screen speaking protocol B (slots and tracking ids), mapped onto
    /// the whole screen.
    public static let touchscreen = DeviceProfile(
        name: "Fractal Virtual Touchscreen",
        bus: UInt16(BUS_VIRTUAL),
        vendor: 0x0000,
        product: 0x0004,
        version: 0x0001,
        codes: [
            UInt16(EV_KEY): codes(BTN_TOUCH),
        ],
        axes: [
            AbsoluteAxis(code: UInt16(ABS_X), minimum: 0, maximum: 65535, resolution: 100),
            AbsoluteAxis(code: UInt16(ABS_Y), minimum: 0, maximum: 65535, resolution: 100),
            AbsoluteAxis(code: UInt16(ABS_MT_SLOT), minimum: 0, maximum: 9),
            AbsoluteAxis(code: UInt16(ABS_MT_TRACKING_ID), minimum: 0, maximum: 65535),
            AbsoluteAxis(code: UInt16(ABS_MT_POSITION_X), minimum: 0, maximum: 65535, resolution: 100),
            AbsoluteAxis(code: UInt16(ABS_MT_POSITION_Y), minimum: 0, maximum: 65535, resolution: 100),
        ],
        properties: [UInt16(INPUT_PROP_DIRECT)]
    )

    // A thumbstick as xpad reports it.
    private static func stick(_ code: Int32) -> AbsoluteAxis {
        AbsoluteAxis(code: UInt16(code), minimum: -32768, maximum: 32767, fuzz: 16, flat: 128)
    }

    // The kernel's constants import as Int32; the profile speaks UInt16.
    private static func codes(_ values: Int32...) -> [UInt16] { values.map { UInt16($0) } }
    private static func codes(_ range: ClosedRange<Int32>) -> [UInt16] { range.map { UInt16($0) } }
}
