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
        case .pen: return .pen
        case .trackpad: return .trackpad
        case .dualsense: return .dualSense
        case .switchPro: return .switchPro
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

    /// What a session writes to a DualSense (made through uhid, not uinput: `HIDPad` turns these
    /// events into the pad's input reports): the gamepad's own buttons, sticks, triggers and
    /// d-pad, so one client drives every pad alike, plus the touchpad's two fingers (protocol B,
    /// on the pad's 1920×1080 surface) and its click. The name and IDs are the pad's.
    public static let dualSense = DeviceProfile(
        name: DualSenseReports.name,
        bus: UInt16(BUS_USB),
        vendor: UInt16(DualSenseReports.vendorID),
        product: UInt16(DualSenseReports.productID),
        version: UInt16(DualSenseReports.version),
        codes: [UInt16(EV_KEY): gamepad.codes[UInt16(EV_KEY), default: []] + codes(BTN_LEFT)],
        axes: gamepad.axes + [
            AbsoluteAxis(code: UInt16(ABS_MT_SLOT), minimum: 0, maximum: 1),
            AbsoluteAxis(code: UInt16(ABS_MT_TRACKING_ID), minimum: 0, maximum: 65535),
            AbsoluteAxis(code: UInt16(ABS_MT_POSITION_X), minimum: 0, maximum: Int32(DualSenseTouch.width - 1)),
            AbsoluteAxis(code: UInt16(ABS_MT_POSITION_Y), minimum: 0, maximum: Int32(DualSenseTouch.height - 1)),
        ]
    )

    /// What a session writes to a Switch Pro controller (made through uhid: `HIDPad` turns these
    /// into its input reports): the gamepad's own buttons, sticks, triggers (ZL and ZR are
    /// digital: pressed past half) and d-pad. The name and IDs are the pad's.
    public static let switchPro = DeviceProfile(
        name: SwitchProReports.name,
        bus: UInt16(BUS_USB),
        vendor: UInt16(SwitchProReports.vendorID),
        product: UInt16(SwitchProReports.productID),
        version: UInt16(SwitchProReports.version),
        codes: [UInt16(EV_KEY): gamepad.codes[UInt16(EV_KEY), default: []]],
        axes: gamepad.axes
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

    /// A pen on the screen (a display tablet, as libinput calls it): ABS_X/ABS_Y over 0...65535
    /// mapped onto the whole screen like the tablet's and the touchscreen's, 4096 pressure
    /// levels, hover distance, tilt in hundredths of a degree, the pen and its eraser end as
    /// tools (BTN_TOOL_PEN, BTN_TOOL_RUBBER), BTN_TOUCH for the tip and two barrel buttons.
    /// udev tags it ID_INPUT_TABLET and libinput makes it a tablet whose tool has pressure,
    /// distance and tilt. Send BTN_TOOL_PEN (or _RUBBER) 1 with the position to come into
    /// proximity, BTN_TOUCH with pressure (and distance 0) to draw, the tool 0 to leave.
    public static let pen = DeviceProfile(
        name: "Fractal Virtual Pen",
        bus: UInt16(BUS_VIRTUAL),
        vendor: 0x0000,
        product: 0x0005,
        version: 0x0001,
        codes: [
            UInt16(EV_KEY): codes(BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_TOUCH, BTN_STYLUS, BTN_STYLUS2),
        ],
        axes: [
            // libinput refuses a tablet without resolution ("missing tablet capabilities").
            AbsoluteAxis(code: UInt16(ABS_X), minimum: 0, maximum: 65535, resolution: 100),
            AbsoluteAxis(code: UInt16(ABS_Y), minimum: 0, maximum: 65535, resolution: 100),
            AbsoluteAxis(code: UInt16(ABS_PRESSURE), minimum: 0, maximum: 4095),
            AbsoluteAxis(code: UInt16(ABS_DISTANCE), minimum: 0, maximum: 255),
            // Tilt's resolution is in units per radian: 100 units a degree is 5730 a radian, so
            // libinput reports a value of 1000 as 10 degrees.
            AbsoluteAxis(code: UInt16(ABS_TILT_X), minimum: -9000, maximum: 9000, resolution: 5730),
            AbsoluteAxis(code: UInt16(ABS_TILT_Y), minimum: -9000, maximum: 9000, resolution: 5730),
        ],
        // On the screen, not beside it: the pen is where the client's pen touched its picture.
        properties: [UInt16(INPUT_PROP_DIRECT)]
    )

    /// A clickpad (a touchpad whose surface is its button), five fingers, speaking multitouch
    /// protocol B: positions over 0...65535 on both axes like the other absolute devices, on a
    /// 128 × 80 mm pad (libinput's scroll, gesture, palm and jump thresholds are in mm).
    /// BTN_TOOL_FINGER...QUINTTAP say how many fingers are down. udev tags it ID_INPUT_TOUCHPAD;
    /// libinput makes it a touchpad with gestures and two-finger scrolling. Frames of moving
    /// fingers should come at the client's pace (libinput discards a touch that moves more than
    /// 20 mm in a 12 ms frame as a jump).
    public static let trackpad = DeviceProfile(
        name: "Fractal Virtual Trackpad",
        bus: UInt16(BUS_VIRTUAL),
        vendor: 0x0000,
        product: 0x0006,
        version: 0x0001,
        codes: [
            UInt16(EV_KEY): codes(
                BTN_LEFT, BTN_TOUCH, BTN_TOOL_FINGER, BTN_TOOL_DOUBLETAP, BTN_TOOL_TRIPLETAP,
                BTN_TOOL_QUADTAP, BTN_TOOL_QUINTTAP
            ),
        ],
        axes: [
            // 512 and 819 units/mm: 65535 units are 128 mm across and 80 mm down.
            AbsoluteAxis(code: UInt16(ABS_X), minimum: 0, maximum: 65535, resolution: 512),
            AbsoluteAxis(code: UInt16(ABS_Y), minimum: 0, maximum: 65535, resolution: 819),
            AbsoluteAxis(code: UInt16(ABS_MT_SLOT), minimum: 0, maximum: 4),
            AbsoluteAxis(code: UInt16(ABS_MT_TRACKING_ID), minimum: 0, maximum: 65535),
            AbsoluteAxis(code: UInt16(ABS_MT_POSITION_X), minimum: 0, maximum: 65535, resolution: 512),
            AbsoluteAxis(code: UInt16(ABS_MT_POSITION_Y), minimum: 0, maximum: 65535, resolution: 819),
        ],
        // A pointer moved by fingers, not a screen (no INPUT_PROP_DIRECT), with its button under
        // the surface, as on today's laptops.
        properties: [UInt16(INPUT_PROP_POINTER), UInt16(INPUT_PROP_BUTTONPAD)]
    )

    // A thumbstick as xpad reports it.
    private static func stick(_ code: Int32) -> AbsoluteAxis {
        AbsoluteAxis(code: UInt16(code), minimum: -32768, maximum: 32767, fuzz: 16, flat: 128)
    }

    // The kernel's constants import as Int32; the profile speaks UInt16.
    private static func codes(_ values: Int32...) -> [UInt16] { values.map { UInt16($0) } }
    private static func codes(_ range: ClosedRange<Int32>) -> [UInt16] { range.map { UInt16($0) } }
}
