/// The Switch Pro controller (Nintendo 057e:2009) as hid-nintendo sees it over USB: the report
/// descriptor, the replies its probe waits for and the SPI flash it reads calibration from.
///
/// Read against drivers/hid/hid-nintendo.c of Linux 6.1: the driver talks to the pad through
/// output reports (0x80 USB commands, 0x01 subcommands with rumble, 0x10 rumble only) and waits
/// for the matching input report (0x81 echoing the command, 0x21 echoing the subcommand ID, at
/// least 49 bytes). At probe it sends the USB handshake, 3 Mbit/s and "no timeout" commands,
/// reads the user-calibration magics and the factory stick and IMU calibration from SPI flash
/// (0x10), sets input report mode 0x30 (0x03), enables rumble (0x48) and the IMU (0x40), asks
/// for device info (0x02: the pad type, which must be 0x03 for both sticks, and the MAC, which
/// becomes every input node's uniq), then lights the player LEDs (0x30) and the home LED (0x38).
public enum SwitchProReports {
    public static let vendorID: UInt32 = 0x057E
    public static let productID: UInt32 = 0x2009
    /// hid-nintendo ORs 0x8000 into it; 0x8111 is the USB pad in SDL's controller database.
    public static let version: UInt32 = 0x0111
    /// The USB product string; hid-nintendo names its nodes itself, with the same words.
    public static let name = "Nintendo Co., Ltd. Pro Controller"
    /// The gamepad node's name, and the IMU node's.
    public static let gamepadName = "Nintendo Switch Pro Controller"
    public static let imuName = "Nintendo Switch Pro Controller IMU"

    /// Every input report, report ID included.
    public static let inputReportSize = 64
    /// The driver checks a 0x21 or 0x30 report is at least this long (struct joycon_input_report).
    public static let minimumParsedSize = 49

    /// Input report IDs.
    public static let fullReportID: UInt8 = 0x30
    public static let subcommandReplyID: UInt8 = 0x21
    public static let usbResponseID: UInt8 = 0x81
    /// Output report IDs.
    public static let subcommandReportID: UInt8 = 0x01
    public static let rumbleReportID: UInt8 = 0x10
    public static let mcuReportID: UInt8 = 0x11
    public static let usbCommandReportID: UInt8 = 0x80

    /// Subcommands the driver (or SDL) sends and that we answer with data.
    public enum Subcommand {
        public static let deviceInfo: UInt8 = 0x02
        public static let setReportMode: UInt8 = 0x03
        public static let spiFlashRead: UInt8 = 0x10
        public static let setPlayerLights: UInt8 = 0x30
        public static let getPlayerLights: UInt8 = 0x31
        public static let setHomeLight: UInt8 = 0x38
        public static let enableIMU: UInt8 = 0x40
        public static let enableVibration: UInt8 = 0x48
    }

    /// A report descriptor of our own with the pad's report IDs and sizes: input reports 0x30,
    /// 0x21, 0x81 and 0x3F, output reports 0x01, 0x10, 0x11, 0x80 and 0x82, each 63 bytes after
    /// its ID. The kernel hands the driver only input reports whose ID the descriptor declares;
    /// hid-nintendo reads the raw bytes, not the fields.
    public static let reportDescriptor: [UInt8] = {
        var descriptor: [UInt8] = [
            0x05, 0x01,        // Usage Page (Generic Desktop)
            0x15, 0x00,        // Logical Minimum (0)
            0x09, 0x04,        // Usage (Joystick)
            0xA1, 0x01,        // Collection (Application)
            0x06, 0x01, 0xFF,  //   Usage Page (Vendor 0xFF01)
            0x26, 0xFF, 0x00,  //   Logical Maximum (255)
            0x75, 0x08,        //   Report Size (8)
            0x95, 0x3F,        //   Report Count (63)
        ]
        // Input (Data, Array, Absolute) for inputs, Output (Data, Variable, Absolute) for outputs.
        for (usage, id) in [(0x01, 0x30), (0x02, 0x21), (0x03, 0x81), (0x04, 0x3F)] as [(UInt8, UInt8)] {
            descriptor += [0x85, id, 0x09, usage, 0x81, 0x02]
        }
        for (usage, id) in [(0x11, 0x01), (0x12, 0x10), (0x13, 0x11), (0x14, 0x80), (0x15, 0x82)] as [(UInt8, UInt8)] {
            descriptor += [0x85, id, 0x09, usage, 0x91, 0x02]
        }
        return descriptor + [0xC0]  // End Collection
    }()

    /// "AA:BB:CC:DD:EE:FF", as hid-nintendo prints the MAC (%02X) into the input nodes' uniq.
    public static func macText(_ mac: [UInt8]) -> String {
        mac.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return byte < 0x10 ? "0" + digits : digits
        }.joined(separator: ":")
    }

    /// Firmware 3.72, a Pro Controller (type 3: both sticks), the MAC in display order, and
    /// "colours are in SPI flash".
    public static func deviceInfo(mac: [UInt8]) -> [UInt8] {
        precondition(mac.count == 6, "a MAC is 6 bytes")
        return [0x03, 0x48, 0x03, 0x02] + mac + [0x03, 0x01]
    }

    // MARK: Calibration and what it makes of raw values

    /// Stick calibration (12-bit raw values): centre 2048, 2047 above and 2048 below, so raw
    /// 0-4095 maps linearly onto the node's -32767...32767 (16 per raw unit).
    public static let stickCenter: UInt16 = 2048
    static let stickAbove: UInt16 = 2047
    static let stickBelow: UInt16 = 2048

    /// IMU calibration: no offsets and the factory scales hid-nintendo defaults to, so the IMU
    /// node shows a raw accelerometer value unchanged (4096 per g) and a raw gyro value × 1000
    /// (14247 per °/s, so one raw unit is about 0.07 °/s).
    public static let accelerometerRawPerG = 4096
    public static let gyroEvdevPerRaw = 1000
    static let accelerometerScale: Int16 = 16384
    static let gyroScale: Int16 = 13371

    // MARK: SPI flash

    /// Where hid-nintendo reads calibration (and SDL reads more) in the pad's SPI flash.
    public enum FlashAddress {
        public static let serialNumber: UInt32 = 0x6000
        public static let factoryIMU: UInt32 = 0x6020
        public static let factoryLeftStick: UInt32 = 0x603D
        public static let factoryRightStick: UInt32 = 0x6046
        public static let colours: UInt32 = 0x6050
        /// User calibration starts with the magic B2 A1 where present; ours has none (erased
        /// flash, 0xFF), so the driver uses the factory values.
        public static let userLeftStickMagic: UInt32 = 0x8010
        public static let userRightStickMagic: UInt32 = 0x801B
        public static let userIMUMagic: UInt32 = 0x8026
    }

    /// The most one SPI read returns, as on the pad.
    public static let maximumFlashRead = 0x1D

    /// The programmed parts of our flash; every other byte reads 0xFF, as erased flash does.
    static let flashRegions: [(address: UInt32, bytes: [UInt8])] = {
        var imu: [UInt8] = []
        for value in [0, 0, 0, accelerometerScale, accelerometerScale, accelerometerScale, 0, 0, 0, gyroScale, gyroScale, gyroScale] {
            let bits = UInt16(bitPattern: value)
            imu += [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
        }
        // The left stick stores above, centre, below; the right one centre, below, above.
        let left = packPair(stickAbove, stickAbove) + packPair(stickCenter, stickCenter) + packPair(stickBelow, stickBelow)
        let right = packPair(stickCenter, stickCenter) + packPair(stickBelow, stickBelow) + packPair(stickAbove, stickAbove)
        // Body, buttons, left grip, right grip: a black pad with white buttons.
        let colours: [UInt8] = [0x32, 0x32, 0x32, 0xFF, 0xFF, 0xFF, 0x32, 0x32, 0x32, 0x32, 0x32, 0x32]
        return [
            (FlashAddress.factoryIMU, imu), (FlashAddress.factoryLeftStick, left),
            (FlashAddress.factoryRightStick, right), (FlashAddress.colours, colours),
        ]
    }()

    /// `count` bytes of our flash from `address`.
    public static func flash(at address: UInt32, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xFF, count: count)
        for region in flashRegions {
            for (index, byte) in region.bytes.enumerated() {
                let at = Int64(region.address) + Int64(index) - Int64(address)
                if at >= 0 && at < Int64(count) { bytes[Int(at)] = byte }
            }
        }
        return bytes
    }

    /// Two 12-bit values in three bytes, as sticks and their calibration are stored.
    static func packPair(_ first: UInt16, _ second: UInt16) -> [UInt8] {
        let a = first & 0x0FFF
        let b = second & 0x0FFF
        return [UInt8(truncatingIfNeeded: a), UInt8(truncatingIfNeeded: a >> 8) | UInt8(truncatingIfNeeded: b << 4), UInt8(truncatingIfNeeded: b >> 4)]
    }

    // MARK: Replies

    /// The reply to USB command `command`: 0x81, the command, and for 0x01 (status) the pad
    /// type and MAC. hid-nintendo waits for it on every command; the pad sends none for 0x04
    /// ("no timeout"), where the driver waits 2 × 100 ms for nothing: we answer it too.
    public static func usbResponse(to command: UInt8, mac: [UInt8]) -> [UInt8] {
        var report = [UInt8](repeating: 0, count: inputReportSize)
        report[0] = usbResponseID
        report[1] = command
        if command == 0x01 {
            report[2] = 0x00
            report[3] = 0x03
            report.replaceSubrange(4..<10, with: mac.reversed())
        }
        return report
    }

    /// What the pad acknowledges subcommand `id` with: the ACK byte (bit 7 set; the low bits say
    /// what data follows) and the data. `playerLights` answers 0x31.
    public static func subcommandReply(id: UInt8, data: [UInt8], mac: [UInt8], playerLights: UInt8) -> (ack: UInt8, data: [UInt8]) {
        switch id {
        case Subcommand.deviceInfo:
            return (0x82, deviceInfo(mac: mac))
        case Subcommand.spiFlashRead:
            guard data.count >= 5, Int(data[4]) <= maximumFlashRead else { return (0x00, []) }  // NACK
            let address = data[0..<4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            return (0x90, Array(data[0..<5]) + flash(at: address, count: Int(data[4])))
        case Subcommand.getPlayerLights:
            return (0xB1, [playerLights])
        default:
            return (0x80, [])
        }
    }

    /// The player lights (bit 0 the first of four) for player `number`, as the console and
    /// hid-nintendo light them: the first n for players 1-4, then 1+4, 1+3, 1+3+4 and 2+3 for
    /// 5-8; later players repeat from 1.
    public static func playerLightsMask(_ number: Int) -> UInt8 {
        let patterns: [UInt8] = [0x1, 0x3, 0x7, 0xF, 0x9, 0x5, 0xD, 0x6]
        return patterns[(max(number, 1) - 1) % patterns.count]
    }
}
