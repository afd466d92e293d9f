/// What the programs using a virtual device asked of it, returned by `UInputDevice.readFeedback()`
/// (and by the uhid pads, decoded from their output reports).
public enum DeviceFeedback: Hashable, Sendable {
    /// Play the rumble effect `effectID`: motor strengths 0...65535, for `durationMs` (0: until stopped).
    case rumble(effectID: Int16, strong: UInt16, weak: UInt16, durationMs: UInt16)
    /// Stop the rumble effect `effectID`.
    case rumbleStopped(effectID: Int16)
    /// Turn the LED `code` (LED_CAPSL, ...) on or off.
    case led(code: UInt16, on: Bool)
    /// Set the pad's light bar (DualSense) to this colour; 0, 0, 0 is off.
    case lightbar(red: UInt8, green: UInt8, blue: UInt8)
    /// Light the pad's player LEDs in `mask`: bit 0 is the first (leftmost) LED, a lit bit is on.
    case playerLights(mask: UInt8)
}
