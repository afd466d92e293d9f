/// One moment of a Switch Pro controller's state: what a full input report (0x30) carries.
///
/// Values are the pad's own: sticks 12-bit (0-4095, centred at 2048, y grows upwards), motion
/// in the raw units `SwitchProReports`'s calibration defines (accelerometer 1/4096 g, gyro about
/// 0.07 °/s).
public struct SwitchProInput: Hashable, Sendable {
    public var buttons: SwitchProButtons = []
    public var leftStick = SwitchProStick()
    public var rightStick = SwitchProStick()
    /// Up to three IMU samples (the pad sends three per report, about 5 ms apart); missing ones
    /// repeat the last, none is all zeros.
    public var motion: [SwitchProMotion] = []
    public var battery = SwitchProBattery()

    public init() {}

    /// The full input report (0x30, 64 bytes). `timer` is the pad's report counter.
    public func report(timer: UInt8) -> [UInt8] {
        var report = header(id: SwitchProReports.fullReportID, timer: timer)
        let samples = (0..<3).map { index in motion.isEmpty ? SwitchProMotion() : motion[min(index, motion.count - 1)] }
        for (index, sample) in samples.enumerated() {
            let values = [sample.accelerometer.x, sample.accelerometer.y, sample.accelerometer.z, sample.gyro.x, sample.gyro.y, sample.gyro.z]
            for (axis, value) in values.enumerated() {
                let bits = UInt16(bitPattern: value)
                let offset = 13 + 12 * index + 2 * axis
                report[offset] = UInt8(truncatingIfNeeded: bits)
                report[offset + 1] = UInt8(truncatingIfNeeded: bits >> 8)
            }
        }
        return report
    }

    /// A subcommand reply (0x21): the same state, then the ACK, the subcommand's ID and its data.
    /// The driver reads the state of a reply it did not wait for as input, so it carries ours.
    public func subcommandReply(timer: UInt8, ack: UInt8, id: UInt8, data: [UInt8]) -> [UInt8] {
        var report = header(id: SwitchProReports.subcommandReplyID, timer: timer)
        report[13] = ack
        report[14] = id
        let count = min(data.count, SwitchProReports.inputReportSize - 15)
        report.replaceSubrange(15..<(15 + count), with: data[..<count])
        return report
    }

    // The 13 bytes every 0x21 and 0x30 report starts with (struct joycon_input_report).
    private func header(id: UInt8, timer: UInt8) -> [UInt8] {
        var report = [UInt8](repeating: 0, count: SwitchProReports.inputReportSize)
        report[0] = id
        report[1] = timer
        report[2] = battery.statusByte
        report[3] = UInt8(truncatingIfNeeded: buttons.rawValue)
        report[4] = UInt8(truncatingIfNeeded: buttons.rawValue >> 8)
        report[5] = UInt8(truncatingIfNeeded: buttons.rawValue >> 16)
        report.replaceSubrange(6..<9, with: SwitchProReports.packPair(leftStick.x, leftStick.y))
        report.replaceSubrange(9..<12, with: SwitchProReports.packPair(rightStick.x, rightStick.y))
        // The vibrator report: non-zero lets the driver refresh a running rumble after reports.
        report[12] = 0x0C
        return report
    }
}

/// A stick's position, 12 bits on each axis (0-4095), 2048 at rest; y grows upwards, as on the
/// pad (the node shows it downwards, as evdev does). Larger values are cut to 12 bits.
public struct SwitchProStick: Hashable, Sendable {
    public var x: UInt16
    public var y: UInt16

    public init(x: UInt16 = SwitchProReports.stickCenter, y: UInt16 = SwitchProReports.stickCenter) {
        self.x = x
        self.y = y
    }
}

/// The buttons; each bit sits where the input report carries it (bytes 3-5, right byte first).
public struct SwitchProButtons: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let y = SwitchProButtons(rawValue: 1 << 0)
    public static let x = SwitchProButtons(rawValue: 1 << 1)
    public static let b = SwitchProButtons(rawValue: 1 << 2)
    public static let a = SwitchProButtons(rawValue: 1 << 3)
    public static let r = SwitchProButtons(rawValue: 1 << 6)
    public static let zr = SwitchProButtons(rawValue: 1 << 7)
    public static let minus = SwitchProButtons(rawValue: 1 << 8)
    public static let plus = SwitchProButtons(rawValue: 1 << 9)
    public static let rightStick = SwitchProButtons(rawValue: 1 << 10)
    public static let leftStick = SwitchProButtons(rawValue: 1 << 11)
    public static let home = SwitchProButtons(rawValue: 1 << 12)
    public static let capture = SwitchProButtons(rawValue: 1 << 13)
    public static let down = SwitchProButtons(rawValue: 1 << 16)
    public static let up = SwitchProButtons(rawValue: 1 << 17)
    public static let right = SwitchProButtons(rawValue: 1 << 18)
    public static let left = SwitchProButtons(rawValue: 1 << 19)
    public static let l = SwitchProButtons(rawValue: 1 << 22)
    public static let zl = SwitchProButtons(rawValue: 1 << 23)
}

/// One IMU sample in the pad's raw units.
public struct SwitchProMotion: Hashable, Sendable {
    public var accelerometer: SwitchProVector
    public var gyro: SwitchProVector

    public init(accelerometer: SwitchProVector = SwitchProVector(), gyro: SwitchProVector = SwitchProVector()) {
        self.accelerometer = accelerometer
        self.gyro = gyro
    }
}

/// A motion reading on three axes: x towards the triggers, y to the left, z up out of the face.
public struct SwitchProVector: Hashable, Sendable {
    public var x: Int16
    public var y: Int16
    public var z: Int16

    public init(x: Int16 = 0, y: Int16 = 0, z: Int16 = 0) {
        self.x = x
        self.y = y
        self.z = z
    }
}

/// What the pad says of its battery and power (hid-nintendo shows it as a capacity level).
public struct SwitchProBattery: Hashable, Sendable {
    public enum Level: UInt8, Hashable, Sendable {
        case empty = 0, low, medium, high, full
    }

    public var level: Level
    public var charging: Bool
    /// Powered by the host (over USB, as ours is).
    public var powered: Bool

    public init(level: Level = .full, charging: Bool = false, powered: Bool = true) {
        self.level = level
        self.charging = charging
        self.powered = powered
    }

    var statusByte: UInt8 {
        level.rawValue << 5 | (charging ? 0x10 : 0) | (powered ? 0x01 : 0)
    }
}
