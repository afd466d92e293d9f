/// What a virtual input device stands in for; each role has a built-in `DeviceProfile`.
public enum DeviceRole: String, Codable, CaseIterable, Sendable {
    case keyboard
    case mouse
    /// An absolute pointer (like QEMU's USB tablet): the cursor goes where it is told.
    case tablet
    case gamepad
    case touchscreen
    /// A pen tablet mapped onto the screen: pressure, tilt, hover distance, an eraser end and two
    /// barrel buttons (libinput's tablet tool).
    case pen
    /// A multitouch touchpad with a click button: libinput's touchpad, with its scrolling and gestures.
    case trackpad
    /// A Sony DualSense (054c:0ce6) made through uhid and bound by the kernel's hid-playstation:
    /// gamepad, motion-sensor, touchpad and hidraw nodes, lightbar and player LEDs.
    case dualsense
    /// A Nintendo Switch Pro controller (057e:2009) made through uhid and bound by hid-nintendo:
    /// gamepad, motion-sensor and hidraw nodes, player LEDs.
    case switchPro = "switch-pro"

    /// Whether the device is a HID pad made through uhid (its kernel driver makes the nodes)
    /// rather than a uinput device.
    public var isHIDPad: Bool { self == .dualsense || self == .switchPro }

    /// The roles made through uinput, each from its built-in `DeviceProfile`.
    public static let uinputRoles = allCases.filter { !$0.isHIDPad }

    /// Whether the device is a game controller (what the `gamepad-only` policy lets a session drive).
    public var isGamepad: Bool { self == .gamepad || isHIDPad }
}
