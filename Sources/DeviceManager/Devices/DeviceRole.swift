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
}
