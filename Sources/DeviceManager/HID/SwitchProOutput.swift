#if canImport(Glibc)
import Glibc
#endif

/// What a game (or the driver) asked of a Switch Pro controller in one output report: only what
/// the report says is set, so an absent value means "unchanged", not "off".
public struct SwitchProOutput: Hashable, Sendable {
    /// Every subcommand and rumble report carries the motors' state.
    public var rumble: SwitchProRumble?
    public var playerLights: SwitchProPlayerLights?
    /// The home button's ring: its start intensity, 0-15 (hid-nintendo's LED brightness).
    public var homeLight: UInt8?

    public init(rumble: SwitchProRumble? = nil, playerLights: SwitchProPlayerLights? = nil, homeLight: UInt8? = nil) {
        self.rumble = rumble
        self.playerLights = playerLights
        self.homeLight = homeLight
    }

    /// True when the report changed nothing this type describes (USB commands, IMU settings, ...).
    public var isEmpty: Bool { self == SwitchProOutput() }

    /// Decodes an output report (0x01, 0x10, 0x11, 0x80); anything else is refused, never half-read.
    public static func decode(_ report: [UInt8]) throws(SwitchProReportError) -> SwitchProOutput {
        try SwitchProOutputReport.parse(report).output
    }
}

/// An output report as the pad reads it: what to answer and what it asks.
public enum SwitchProOutputReport: Hashable, Sendable {
    /// 0x80: a USB command, answered with 0x81 and the command.
    case usbCommand(UInt8)
    /// 0x01: rumble and a subcommand, answered with 0x21 and the subcommand's ID.
    case subcommand(id: UInt8, data: [UInt8], rumble: SwitchProRumble)
    /// 0x10 (and 0x11, whose MCU request we do not serve): rumble alone, not answered.
    case rumble(SwitchProRumble)

    public static func parse(_ report: [UInt8]) throws(SwitchProReportError) -> SwitchProOutputReport {
        guard let id = report.first else { throw .empty }
        // The ID, a packet counter, eight rumble bytes, then (0x01) the subcommand and its data.
        let minimum: Int
        switch id {
        case SwitchProReports.usbCommandReportID: minimum = 2
        case SwitchProReports.subcommandReportID: minimum = 11
        case SwitchProReports.rumbleReportID, SwitchProReports.mcuReportID: minimum = 10
        default: throw .unknownReportID(id)
        }
        guard report.count >= minimum else { throw .tooShort(reportID: id, size: report.count, expected: minimum) }
        if id == SwitchProReports.usbCommandReportID { return .usbCommand(report[1]) }
        let rumble = SwitchProRumble(report[2..<10])
        if id == SwitchProReports.subcommandReportID {
            return .subcommand(id: report[10], data: Array(report[11...]), rumble: rumble)
        }
        return .rumble(rumble)
    }

    /// What the report asks of the pad.
    public var output: SwitchProOutput {
        switch self {
        case .usbCommand:
            return SwitchProOutput()
        case .rumble(let rumble):
            return SwitchProOutput(rumble: rumble)
        case let .subcommand(id, data, rumble):
            var output = SwitchProOutput(rumble: rumble)
            switch id {
            case SwitchProReports.Subcommand.setPlayerLights where !data.isEmpty:
                output.playerLights = SwitchProPlayerLights(on: data[0] & 0x0F, flashing: data[0] >> 4)
            case SwitchProReports.Subcommand.setHomeLight where data.count >= 2:
                output.homeLight = data[1] >> 4
            default:
                break
            }
            return output
        }
    }
}

/// The four player LEDs: bit 0 is the leftmost.
public struct SwitchProPlayerLights: Hashable, Sendable {
    public var on: UInt8
    public var flashing: UInt8

    public init(on: UInt8, flashing: UInt8 = 0) {
        self.on = on
        self.flashing = flashing
    }

    /// The player number the lights show as the console and hid-nintendo light them (the first
    /// n LEDs, steady), or nil for another pattern.
    public var player: Int? {
        guard flashing == 0 else { return nil }
        return (1...4).first { on == UInt8((1 << $0) - 1) }
    }
}

/// Both motors. hid-nintendo plays FF_RUMBLE's strong magnitude on the left motor and the weak
/// one on the right, at 160 Hz (low band) and 320 Hz (high band), with the same amplitude in
/// both bands.
public struct SwitchProRumble: Hashable, Sendable {
    public var left: SwitchProMotor
    public var right: SwitchProMotor

    public init(left: SwitchProMotor, right: SwitchProMotor) {
        self.left = left
        self.right = right
    }

    init(_ bytes: ArraySlice<UInt8>) {
        let start = bytes.startIndex
        left = SwitchProMotor(bytes[start..<(start + 4)])
        right = SwitchProMotor(bytes[(start + 4)..<(start + 8)])
    }

    /// The left motor's amplitude as a DualSense-style 0-255 magnitude (FF_RUMBLE's strong / 256).
    public var strong: UInt8 { left.magnitude }
    /// The right motor's, likewise (FF_RUMBLE's weak / 256).
    public var weak: UInt8 { right.magnitude }
}

/// One motor's two bands: frequencies in Hz, amplitudes in thousandths (0-1003, the pad's
/// table; higher codes are cut to its top).
public struct SwitchProMotor: Hashable, Sendable {
    public var highFrequency: Double
    public var highAmplitude: UInt16
    public var lowFrequency: Double
    public var lowAmplitude: UInt16

    public init(highFrequency: Double, highAmplitude: UInt16, lowFrequency: Double, lowAmplitude: UInt16) {
        self.highFrequency = highFrequency
        self.highAmplitude = highAmplitude
        self.lowFrequency = lowFrequency
        self.lowAmplitude = lowAmplitude
    }

    /// The larger band's amplitude on 0-255, rounded.
    public var magnitude: UInt8 {
        let top = Int(Self.amplitudes.last ?? 1)
        return UInt8(min(255, (Int(max(highAmplitude, lowAmplitude)) * 255 + top / 2) / top))
    }

    // The four bytes of one side: the high band's 9-bit frequency code (byte 0 and bit 0 of
    // byte 1) and amplitude (byte 1's upper 7 bits), the low band's 7-bit frequency code
    // (byte 2) and amplitude (bit 7 of byte 2 with byte 3, from 0x40).
    init(_ bytes: ArraySlice<UInt8>) {
        let b = Array(bytes)
        let highCode = (UInt16(b[1] & 0x01) << 8 | UInt16(b[0])) >> 2
        highFrequency = 10 * pow(2, (Double(highCode) + 0x60) / 32)
        highAmplitude = Self.amplitude(index: Int(b[1] >> 1))
        lowFrequency = 10 * pow(2, (Double(b[2] & 0x7F) + 0x40) / 32)
        lowAmplitude = b[3] < 0x40 ? 0 : Self.amplitude(index: Int(b[3] - 0x40) * 2 + Int(b[2] >> 7))
    }

    private static func amplitude(index: Int) -> UInt16 {
        amplitudes[min(index, amplitudes.count - 1)]
    }

    /// The amplitude each code stands for, in thousandths: the pad's table (as hid-nintendo
    /// and the community's reverse engineering give it), code 0 to 100.
    static let amplitudes: [UInt16] = [
        0, 10, 12, 14, 17, 20, 24, 28, 33, 40, 47, 56, 67, 80, 95, 112, 117, 123, 128, 134, 140,
        146, 152, 159, 166, 173, 181, 189, 198, 206, 215, 225, 230, 235, 240, 245, 251, 256, 262,
        268, 273, 279, 286, 292, 298, 305, 311, 318, 325, 332, 340, 347, 355, 362, 370, 378, 387,
        395, 404, 413, 422, 431, 440, 450, 460, 470, 480, 491, 501, 512, 524, 535, 547, 559, 571,
        584, 596, 609, 623, 636, 650, 665, 679, 694, 709, 725, 741, 757, 773, 790, 808, 825, 843,
        862, 881, 900, 920, 940, 960, 981, 1003,
    ]
}

/// Why a report from the kernel could not be read as a Switch Pro output report.
public enum SwitchProReportError: Error, Hashable, Sendable, CustomStringConvertible {
    case empty
    case unknownReportID(UInt8)
    case tooShort(reportID: UInt8, size: Int, expected: Int)

    public var description: String {
        switch self {
        case .empty: return "empty Switch Pro report"
        case .unknownReportID(let id): return "Switch Pro report ID 0x\(String(id, radix: 16)) is not an output report"
        case let .tooShort(id, size, expected):
            return "Switch Pro report 0x\(String(id, radix: 16)) is \(size) bytes, expected at least \(expected)"
        }
    }
}
