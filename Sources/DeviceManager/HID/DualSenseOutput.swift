/// What a game (or the driver) asked of a DualSense in one output report: only the parts the
/// report marks valid are set, so an absent value means "unchanged", not "off".
public struct DualSenseOutput: Hashable, Sendable {
    public var rumble: DualSenseRumble?
    public var lightbar: DualSenseColor?
    public var playerLEDs: DualSensePlayerLEDs?
    /// The mute button's LED: 0 off, 1 on, 2 pulsing.
    public var muteLED: UInt8?
    public var rightTrigger: DualSenseTriggerEffect?
    public var leftTrigger: DualSenseTriggerEffect?

    public init(
        rumble: DualSenseRumble? = nil, lightbar: DualSenseColor? = nil, playerLEDs: DualSensePlayerLEDs? = nil,
        muteLED: UInt8? = nil, rightTrigger: DualSenseTriggerEffect? = nil, leftTrigger: DualSenseTriggerEffect? = nil
    ) {
        self.rumble = rumble
        self.lightbar = lightbar
        self.playerLEDs = playerLEDs
        self.muteLED = muteLED
        self.rightTrigger = rightTrigger
        self.leftTrigger = leftTrigger
    }

    /// True when the report changed nothing this type describes (audio, haptics, ...).
    public var isEmpty: Bool { self == DualSenseOutput() }

    // Flags of the report's common part (struct dualsense_output_report_common).
    private enum Flag0 {
        static let compatibleVibration: UInt8 = 1 << 0
        static let rightTrigger: UInt8 = 1 << 2
        static let leftTrigger: UInt8 = 1 << 3
    }
    private enum Flag1 {
        static let muteLED: UInt8 = 1 << 0
        static let lightbar: UInt8 = 1 << 2
        static let playerLEDs: UInt8 = 1 << 4
    }
    private enum Flag2 {
        /// Firmware with update version 0x0224 and up: rumble valid through this flag instead.
        static let compatibleVibration2: UInt8 = 1 << 2
    }

    /// Decodes a USB (0x02, 63 bytes; longer is accepted) or Bluetooth (0x31, 78 bytes, its
    /// CRC checked) output report. Anything else is refused, never half-read.
    public static func decode(_ report: [UInt8]) throws(DualSenseReportError) -> DualSenseOutput {
        guard let id = report.first else { throw .empty }
        let common: ArraySlice<UInt8>
        switch id {
        case DualSenseReports.outputReportID:
            guard report.count >= DualSenseReports.outputReportSize else {
                throw .tooShort(reportID: id, size: report.count, expected: DualSenseReports.outputReportSize)
            }
            common = report[1..<48]
        case DualSenseReports.bluetoothOutputReportID:
            let size = DualSenseReports.bluetoothOutputReportSize
            guard report.count >= size else { throw .tooShort(reportID: id, size: report.count, expected: size) }
            let expected = PlayStationCRC32.checksum(seed: PlayStationCRC32.outputSeed, report[..<(size - 4)])
            let carried = (0..<4).reduce(UInt32(0)) { $0 | UInt32(report[size - 4 + $1]) << (8 * UInt32($1)) }
            guard expected == carried else { throw .badChecksum(reportID: id) }
            // The kernel sends a sequence (low nibble 0) and a tag before the common part; SDL
            // sends 0x02 alone.
            common = report[1] & 0x0F == 0x02 ? report[2..<49] : report[3..<50]
        default:
            throw .unknownReportID(id)
        }
        let bytes = Array(common)
        let flag0 = bytes[0]
        let flag1 = bytes[1]
        let flag2 = bytes[38]

        var output = DualSenseOutput()
        if flag0 & Flag0.compatibleVibration != 0 || flag2 & Flag2.compatibleVibration2 != 0 {
            // motor_right is the small (weak) motor, motor_left the large (strong) one.
            output.rumble = DualSenseRumble(strong: bytes[3], weak: bytes[2])
        }
        if flag0 & Flag0.rightTrigger != 0 { output.rightTrigger = DualSenseTriggerEffect(bytes[10..<21]) }
        if flag0 & Flag0.leftTrigger != 0 { output.leftTrigger = DualSenseTriggerEffect(bytes[21..<32]) }
        if flag1 & Flag1.muteLED != 0 { output.muteLED = bytes[8] }
        if flag1 & Flag1.playerLEDs != 0 {
            output.playerLEDs = DualSensePlayerLEDs(mask: bytes[43] & 0x1F, instant: bytes[43] & 0x20 != 0)
        }
        if flag1 & Flag1.lightbar != 0 {
            output.lightbar = DualSenseColor(red: bytes[44], green: bytes[45], blue: bytes[46])
        }
        return output
    }
}

/// The two rumble motors, 0-255 each (hid-playstation sends an FF_RUMBLE magnitude / 256).
public struct DualSenseRumble: Hashable, Sendable {
    /// The large, left motor (FF_RUMBLE's strong magnitude).
    public var strong: UInt8
    /// The small, right motor (FF_RUMBLE's weak magnitude).
    public var weak: UInt8

    public init(strong: UInt8, weak: UInt8) {
        self.strong = strong
        self.weak = weak
    }
}

/// The lightbar's colour.
public struct DualSenseColor: Hashable, Sendable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }
}

/// The five white LEDs under the touchpad: bit 0 is the leftmost.
public struct DualSensePlayerLEDs: Hashable, Sendable {
    public var mask: UInt8
    /// Switch at once instead of fading.
    public var instant: Bool

    public init(mask: UInt8, instant: Bool = false) {
        self.mask = mask
        self.instant = instant
    }
}

/// An adaptive-trigger effect: its mode byte and ten parameter bytes, as the game sent them
/// (their meaning depends on the mode and is the game's business).
public struct DualSenseTriggerEffect: Hashable, Sendable {
    public var mode: UInt8
    public var parameters: [UInt8]

    public init(mode: UInt8, parameters: [UInt8]) {
        self.mode = mode
        self.parameters = parameters
    }

    init(_ bytes: ArraySlice<UInt8>) {
        mode = bytes.first ?? 0
        parameters = Array(bytes.dropFirst())
    }
}

/// Why a report from the kernel could not be read as a DualSense report.
public enum DualSenseReportError: Error, Hashable, Sendable, CustomStringConvertible {
    case empty
    case unknownReportID(UInt8)
    case tooShort(reportID: UInt8, size: Int, expected: Int)
    case badChecksum(reportID: UInt8)

    public var description: String {
        switch self {
        case .empty: return "empty DualSense report"
        case .unknownReportID(let id): return "DualSense report ID 0x\(String(id, radix: 16)) is not an output report"
        case let .tooShort(id, size, expected):
            return "DualSense report 0x\(String(id, radix: 16)) is \(size) bytes, expected \(expected)"
        case .badChecksum(let id): return "DualSense report 0x\(String(id, radix: 16)) fails its CRC"
        }
    }
}
