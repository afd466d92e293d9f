/// One moment of a DualSense's state: what an input report carries.
///
/// Values are the pad's own: sticks and triggers 0-255 (sticks centred at 128, y down),
/// touch positions on the 1920×1080 pad, motion in the raw units `DualSenseReports`'s
/// calibration defines (gyro 1/16 °/s, accelerometer 1/8192 g).
public struct DualSenseInput: Hashable, Sendable {
    public var leftStick = DualSenseStick()
    public var rightStick = DualSenseStick()
    /// L2 and R2 pressure (the buttons L2 and R2 are separate, as on the pad).
    public var leftTrigger: UInt8 = 0
    public var rightTrigger: UInt8 = 0
    public var dpad: DualSenseDPad = .neutral
    public var buttons: DualSenseButtons = []
    /// Up to two fingers on the touchpad; nil where there is none.
    public var touches: [DualSenseTouch?] = [nil, nil]
    public var gyro = DualSenseVector()
    public var accelerometer = DualSenseVector()
    /// The sensors' clock, in units of 1/3 µs; it wraps.
    public var sensorTimestamp: UInt32 = 0
    public var battery = DualSenseBattery()

    public init() {}

    /// The USB input report (0x01, 64 bytes). `sequence` is the pad's frame counter.
    public func report(sequence: UInt8) -> [UInt8] {
        var report = [UInt8](repeating: 0, count: DualSenseReports.inputReportSize)
        report[0] = DualSenseReports.inputReportID
        // After the report ID, the layout of struct dualsense_input_report.
        report[1] = leftStick.x
        report[2] = leftStick.y
        report[3] = rightStick.x
        report[4] = rightStick.y
        report[5] = leftTrigger
        report[6] = rightTrigger
        report[7] = sequence
        DualSenseReports.put(UInt32(dpad.rawValue) | buttons.rawValue, at: 8, in: &report)
        for (index, value) in [gyro.x, gyro.y, gyro.z, accelerometer.x, accelerometer.y, accelerometer.z].enumerated() {
            DualSenseReports.put16(value, at: 16 + 2 * index, in: &report)
        }
        DualSenseReports.put(sensorTimestamp, at: 28, in: &report)
        for slot in 0..<2 {
            let touch = slot < touches.count ? touches[slot] : nil
            let bytes = (touch ?? DualSenseTouch(id: 0, x: 0, y: 0)).bytes(active: touch != nil)
            report.replaceSubrange((33 + 4 * slot)..<(37 + 4 * slot), with: bytes)
        }
        report[53] = battery.statusByte
        return report
    }
}

/// A stick's position, 0-255 on each axis, 128 at rest; y grows downwards.
public struct DualSenseStick: Hashable, Sendable {
    public var x: UInt8
    public var y: UInt8

    public init(x: UInt8 = 128, y: UInt8 = 128) {
        self.x = x
        self.y = y
    }
}

/// The d-pad, as the pad reports it: a hat with eight directions.
public enum DualSenseDPad: UInt8, Hashable, Sendable, CaseIterable {
    case up = 0, upRight, right, downRight, down, downLeft, left, upLeft
    case neutral = 8
}

/// The buttons; each bit sits where the input report carries it (after the hat's four bits).
public struct DualSenseButtons: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let square = DualSenseButtons(rawValue: 1 << 4)
    public static let cross = DualSenseButtons(rawValue: 1 << 5)
    public static let circle = DualSenseButtons(rawValue: 1 << 6)
    public static let triangle = DualSenseButtons(rawValue: 1 << 7)
    public static let l1 = DualSenseButtons(rawValue: 1 << 8)
    public static let r1 = DualSenseButtons(rawValue: 1 << 9)
    public static let l2 = DualSenseButtons(rawValue: 1 << 10)
    public static let r2 = DualSenseButtons(rawValue: 1 << 11)
    public static let create = DualSenseButtons(rawValue: 1 << 12)
    public static let options = DualSenseButtons(rawValue: 1 << 13)
    public static let l3 = DualSenseButtons(rawValue: 1 << 14)
    public static let r3 = DualSenseButtons(rawValue: 1 << 15)
    public static let ps = DualSenseButtons(rawValue: 1 << 16)
    /// Pressing the touchpad down (hid-playstation reports it as the touchpad's BTN_LEFT).
    public static let touchpad = DualSenseButtons(rawValue: 1 << 17)
    public static let mute = DualSenseButtons(rawValue: 1 << 18)
}

/// A finger on the touchpad.
public struct DualSenseTouch: Hashable, Sendable {
    public static let width = 1920
    public static let height = 1080

    /// The contact's number, 0-127: a new finger gets a new one, as on the pad.
    public var id: UInt8
    /// 0-1919; larger values are clamped.
    public var x: UInt16
    /// 0-1079; larger values are clamped.
    public var y: UInt16

    public init(id: UInt8, x: UInt16, y: UInt16) {
        self.id = id
        self.x = x
        self.y = y
    }

    // struct dualsense_touch_point: contact (bit 7 set: no finger), then 12-bit x and y.
    func bytes(active: Bool) -> [UInt8] {
        let x = min(self.x, UInt16(Self.width - 1))
        let y = min(self.y, UInt16(Self.height - 1))
        return [
            (id & 0x7F) | (active ? 0 : 0x80),
            UInt8(truncatingIfNeeded: x),
            UInt8(truncatingIfNeeded: x >> 8) & 0x0F | UInt8(truncatingIfNeeded: y << 4),
            UInt8(truncatingIfNeeded: y >> 4),
        ]
    }
}

/// A motion reading on three axes, in the pad's raw units.
public struct DualSenseVector: Hashable, Sendable {
    public var x: Int16
    public var y: Int16
    public var z: Int16

    public init(x: Int16 = 0, y: Int16 = 0, z: Int16 = 0) {
        self.x = x
        self.y = y
        self.z = z
    }
}

/// What the pad says of its battery.
public struct DualSenseBattery: Hashable, Sendable {
    public enum Charging: UInt8, Hashable, Sendable {
        case discharging = 0
        case charging = 1
        case full = 2
    }

    /// 0-100 %, sent in steps of 10 (hid-playstation shows a step n as n·10+5 %, 100 at the top).
    public var percent: UInt8
    public var charging: Charging

    public init(percent: UInt8 = 100, charging: Charging = .discharging) {
        self.percent = percent
        self.charging = charging
    }

    var statusByte: UInt8 {
        (charging.rawValue << 4) | min(percent / 10, 10)
    }
}
