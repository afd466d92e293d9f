import CUInput

/// One evdev event as written to a uinput device: type, code and value, no timestamp
/// (the kernel stamps events when it delivers them).
public struct InputEvent: Hashable, Sendable, Codable, CustomStringConvertible {
    /// EV_KEY, EV_REL, EV_ABS, EV_SYN, ...
    public var type: UInt16
    /// KEY_A, REL_X, ABS_MT_SLOT, SYN_REPORT, ...
    public var code: UInt16
    public var value: Int32

    public init(type: UInt16, code: UInt16, value: Int32) {
        self.type = type
        self.code = code
        self.value = value
    }

    /// A key or button going down (`pressed`) or up.
    public static func key(_ code: UInt16, pressed: Bool) -> InputEvent {
        InputEvent(type: UInt16(EV_KEY), code: code, value: pressed ? 1 : 0)
    }

    /// SYN_REPORT: ends a frame; readers act on the events since the previous one together.
    public static func syn() -> InputEvent {
        InputEvent(type: UInt16(EV_SYN), code: UInt16(SYN_REPORT), value: 0)
    }

    /// A relative movement (REL_X, REL_WHEEL, ...).
    public static func rel(_ code: UInt16, _ value: Int32) -> InputEvent {
        InputEvent(type: UInt16(EV_REL), code: code, value: value)
    }

    /// An absolute position (ABS_X, ABS_MT_SLOT, ...).
    public static func abs(_ code: UInt16, _ value: Int32) -> InputEvent {
        InputEvent(type: UInt16(EV_ABS), code: code, value: value)
    }

    /// The kernel's names where known, e.g. "EV_KEY KEY_A 1".
    public var description: String {
        let typeName = cuinput_event_type_name(UInt32(type)).map { String(cString: $0) } ?? "type \(type)"
        let codeName = cuinput_event_code_name(UInt32(type), UInt32(code)).map { String(cString: $0) } ?? "code \(code)"
        return "\(typeName) \(codeName) \(value)"
    }
}
