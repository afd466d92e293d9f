/// One input event on the wire: the fields of the kernel's `struct input_event` without the
/// timestamp (the kernel stamps events when the device delivers them).
public struct SessionEvent: Hashable, Sendable {
    /// EV_KEY, EV_REL, EV_ABS, EV_SYN, ...
    public var type: UInt16
    /// KEY_A, REL_X, SYN_REPORT, ...
    public var code: UInt16
    public var value: Int32

    public init(type: UInt16, code: UInt16, value: Int32) {
        self.type = type
        self.code = code
        self.value = value
    }

    // The kernel's numbers for the events clients send most; the protocol itself has no
    // dependency on the kernel's headers.
    public static let evSyn: UInt16 = 0x00
    public static let evKey: UInt16 = 0x01
    public static let evRel: UInt16 = 0x02
    public static let evAbs: UInt16 = 0x03

    /// A key or button going down (`pressed`) or up.
    public static func key(_ code: UInt16, pressed: Bool) -> SessionEvent {
        SessionEvent(type: evKey, code: code, value: pressed ? 1 : 0)
    }

    /// SYN_REPORT: ends a frame.
    public static func syn() -> SessionEvent {
        SessionEvent(type: evSyn, code: 0, value: 0)
    }
}
