import CUInput

/// Why a `DeviceProfile` (or a `phys`) was refused before the kernel was asked.
public enum DeviceProfileError: Error, Hashable, Sendable, CustomStringConvertible {
    case emptyName
    case nameTooLong(String, bytes: Int, limit: Int)
    case physTooLong(String, bytes: Int, limit: Int)
    /// A NUL byte in `field` ("name" or "phys"), which C would silently cut the string at.
    case nulByte(field: String)
    /// An event type that cannot be declared in `codes` (EV_SYN, EV_ABS, or not a type at all).
    case unsupportedEventType(UInt16)
    /// A code above the highest code of its type.
    case unknownCode(type: UInt16, code: UInt16)
    case unknownProperty(UInt16)
    case axisRange(code: UInt16, minimum: Int32, maximum: Int32)
    /// No keys, buttons, axes or other codes: the device could never send anything.
    case noCapabilities(name: String)
    /// EV_FF codes without effect slots (`ffEffectsMax` 0), or effect slots without EV_FF codes.
    case forceFeedbackMismatch(ffEffectsMax: UInt32)

    public var description: String {
        switch self {
        case .emptyName:
            return "device name is empty: give the profile a name, e.g. \"Fractal Virtual Keyboard\""
        case .nameTooLong(let name, let bytes, let limit):
            return "device name '\(name.prefix(100))' is \(bytes) bytes; uinput allows at most \(limit) (80 with the terminating NUL): shorten it"
        case .physTooLong(let phys, let bytes, let limit):
            return "phys '\(phys.prefix(100))' is \(bytes) bytes; at most \(limit) are allowed: use a shorter FractalID"
        case .nulByte(let field):
            return "device \(field) contains a NUL byte, which would cut it short: remove it"
        case .unsupportedEventType(let type):
            if type == UInt16(EV_ABS) {
                return "EV_ABS codes are declared as axes with a range: move them from `codes` to `axes`"
            }
            if type == UInt16(EV_SYN) {
                return "EV_SYN is always on and takes no codes: remove it from `codes`"
            }
            return "\(Self.typeName(type)) is not an event type a uinput device can declare codes for: use EV_KEY, EV_REL, EV_MSC, EV_SW, EV_LED, EV_SND, EV_FF or EV_REP"
        case .unknownCode(let type, let code):
            if type == UInt16(EV_REP) {
                return "EV_REP takes no codes (\(code) given): list it with no codes to turn on autorepeat"
            }
            let maximum = cuinput_event_type_max(UInt32(type))
            return "code \(code) (0x\(String(code, radix: 16))) is not a known \(Self.typeName(type)) code; the highest is \(maximum) (0x\(String(maximum, radix: 16))): check the constant used"
        case .unknownProperty(let property):
            return "input property \(property) is not known; the highest is INPUT_PROP_MAX (\(INPUT_PROP_MAX)): check the constant used"
        case .axisRange(let code, let minimum, let maximum):
            return "axis \(Self.codeName(type: UInt16(EV_ABS), code: code)) has minimum \(minimum) above maximum \(maximum): swap or correct them"
        case .noCapabilities(let name):
            return "profile '\(name.prefix(100))' declares no keys, buttons, axes or other codes, so the device could send nothing: add its capabilities"
        case .forceFeedbackMismatch(let ffEffectsMax):
            if ffEffectsMax == 0 {
                return "profile declares EV_FF codes but ffEffectsMax is 0: set ffEffectsMax (e.g. 16) so programs can upload effects"
            }
            return "profile has ffEffectsMax \(ffEffectsMax) but no EV_FF codes: add the effects it supports (e.g. FF_RUMBLE) or set ffEffectsMax to 0"
        }
    }

    static func typeName(_ type: UInt16) -> String {
        cuinput_event_type_name(UInt32(type)).map { String(cString: $0) } ?? "event type \(type)"
    }

    static func codeName(type: UInt16, code: UInt16) -> String {
        cuinput_event_code_name(UInt32(type), UInt32(code)).map { String(cString: $0) } ?? "\(typeName(type)) code \(code)"
    }
}
