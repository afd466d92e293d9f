/// The DualSense (Sony 054c:0ce6) as hid-playstation sees it over USB: the report descriptor,
/// the feature reports the driver reads while probing, and the sizes it checks.
///
/// Read against drivers/hid/hid-playstation.c of Linux 6.1: probing asks for feature reports
/// 0x09 (pairing info: the MAC, which must differ between pads or the second is refused as a
/// duplicate), 0x20 (firmware info) and 0x05 (calibration), each of exactly its size with its
/// report ID first, and fails the probe otherwise. Over USB it checks no CRC; ours carry one
/// anyway (see `PlayStationCRC32`). Input report 0x01 must be exactly 64 bytes.
/// How a DualSense talks to the host: its bus and its input report's format.
public enum DualSenseTransport: Hashable, Sendable {
    /// USB (bus 0x03): input report 0x01, 64 bytes.
    case usb
    /// Bluetooth (bus 0x05): input report 0x31, 78 bytes, CRC-sealed, sent steadily as the pad
    /// does. What SDL2's HIDAPI layer (touchpad, motion sensors, lightbar) takes: it skips a USB
    /// HID device with no USB parent in sysfs, as every uhid device is (SDL 2.26-2.32
    /// src/hidapi/linux/hid.c, hid_enumerate).
    case bluetooth

    /// BUS_USB or BUS_BLUETOOTH.
    public var bus: UInt16 { self == .usb ? 0x03 : 0x05 }
    public var reportDescriptor: [UInt8] { self == .usb ? DualSenseReports.reportDescriptor : DualSenseReports.bluetoothReportDescriptor }
}

public enum DualSenseReports {
    public static let vendorID: UInt32 = 0x054C
    public static let productID: UInt32 = 0x0CE6
    /// bcdDevice of a retail pad; hid-playstation ORs 0x8000 into what sysfs and evdev show.
    public static let version: UInt32 = 0x0100
    /// The USB product string hid-playstation names the nodes after ("… Motion Sensors", "… Touchpad").
    public static let name = "Sony Interactive Entertainment DualSense Wireless Controller"

    public static let inputReportID: UInt8 = 0x01
    /// Report ID included.
    public static let inputReportSize = 64
    public static let outputReportID: UInt8 = 0x02
    /// What the driver writes over USB, report ID included.
    public static let outputReportSize = 63
    public static let bluetoothOutputReportID: UInt8 = 0x31
    public static let bluetoothOutputReportSize = 78
    public static let bluetoothInputReportID: UInt8 = 0x31
    /// Report ID, sequence, the USB report's 63 bytes, padding, CRC-32: what hid-playstation checks.
    public static let bluetoothInputReportSize = 78

    /// A descriptor with the Bluetooth pad's report IDs and sizes: input and output report 0x31
    /// (77 bytes each after the ID) and the three feature reports. hid-playstation reads the raw
    /// reports and parses nothing of it; SDL and Steam know the pad by its IDs.
    public static let bluetoothReportDescriptor: [UInt8] = [
        0x05, 0x01, 0x09, 0x05, 0xA1, 0x01,                   // Generic Desktop, Game Pad, Collection (Application)
        0x85, 0x31, 0x06, 0x00, 0xFF, 0x09, 0x20,             //   Report ID (0x31), Usage Page (Vendor), Usage (0x20)
        0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x4D, //   0-255, 8 bits, 77 of them
        0x81, 0x02,                                           //   Input (Data, Variable, Absolute)
        0x85, 0x31, 0x09, 0x21, 0x95, 0x4D, 0x91, 0x02,       //   Output 0x31, 77 bytes
        0x85, 0x05, 0x09, 0x22, 0x95, 0x28, 0xB1, 0x02,       //   Feature 0x05 (calibration), 40 bytes
        0x85, 0x09, 0x09, 0x23, 0x95, 0x13, 0xB1, 0x02,       //   Feature 0x09 (pairing info), 19 bytes
        0x85, 0x20, 0x09, 0x24, 0x95, 0x3F, 0xB1, 0x02,       //   Feature 0x20 (firmware info), 63 bytes
        0xC0,                                                 // End Collection
    ]

    /// The Bluetooth input report carrying the USB report `usb` (0x01 and its 63 bytes): report
    /// 0x31, the sequence in the high nibble, those 63 bytes, zeros, and the CRC-32 (seed 0xA1).
    public static func bluetoothInputReport(wrapping usb: [UInt8], sequence: UInt8) -> [UInt8] {
        var report = [UInt8](repeating: 0, count: bluetoothInputReportSize)
        report[0] = bluetoothInputReportID
        report[1] = sequence << 4
        report.replaceSubrange(2..<(2 + inputReportSize - 1), with: usb[1..<inputReportSize])
        let end = bluetoothInputReportSize - 4
        put(PlayStationCRC32.checksum(seed: PlayStationCRC32.inputSeed, report[..<end]), at: end, in: &report)
        return report
    }

    public static let calibrationReportID: UInt8 = 0x05
    public static let calibrationReportSize = 41
    public static let pairingReportID: UInt8 = 0x09
    public static let pairingReportSize = 20
    public static let firmwareReportID: UInt8 = 0x20
    public static let firmwareReportSize = 64

    /// A report descriptor of our own with the DualSense's report IDs and sizes: a Game Pad
    /// application collection with input report 0x01 (six 8-bit axes, a sequence byte, the hat,
    /// 15 buttons, then vendor bytes to 63), output report 0x02 (62 bytes) and the three feature
    /// reports above. hid-playstation parses it only to find report 0x01; SDL and Steam read the
    /// raw reports through hidraw and know the pad by its IDs.
    public static let reportDescriptor: [UInt8] = [
        0x05, 0x01,       // Usage Page (Generic Desktop)
        0x09, 0x05,       // Usage (Game Pad)
        0xA1, 0x01,       // Collection (Application)
        0x85, 0x01,       //   Report ID (1)
        0x09, 0x30, 0x09, 0x31, 0x09, 0x32, 0x09, 0x35, 0x09, 0x33, 0x09, 0x34, // X, Y, Z, Rz, Rx, Ry
        0x15, 0x00,       //   Logical Minimum (0)
        0x26, 0xFF, 0x00, //   Logical Maximum (255)
        0x75, 0x08,       //   Report Size (8)
        0x95, 0x06,       //   Report Count (6)
        0x81, 0x02,       //   Input (Data, Variable, Absolute): sticks and triggers
        0x06, 0x00, 0xFF, //   Usage Page (Vendor 0xFF00)
        0x09, 0x20,       //   Usage (0x20)
        0x95, 0x01,       //   Report Count (1)
        0x81, 0x02,       //   Input: the sequence number
        0x05, 0x01,       //   Usage Page (Generic Desktop)
        0x09, 0x39,       //   Usage (Hat Switch)
        0x15, 0x00,       //   Logical Minimum (0)
        0x25, 0x07,       //   Logical Maximum (7)
        0x35, 0x00,       //   Physical Minimum (0)
        0x46, 0x3B, 0x01, //   Physical Maximum (315)
        0x65, 0x14,       //   Unit (Degrees)
        0x75, 0x04,       //   Report Size (4)
        0x95, 0x01,       //   Report Count (1)
        0x81, 0x42,       //   Input (Data, Variable, Absolute, Null State)
        0x65, 0x00,       //   Unit (None)
        0x05, 0x09,       //   Usage Page (Button)
        0x19, 0x01,       //   Usage Minimum (1)
        0x29, 0x0F,       //   Usage Maximum (15)
        0x15, 0x00,       //   Logical Minimum (0)
        0x25, 0x01,       //   Logical Maximum (1)
        0x75, 0x01,       //   Report Size (1)
        0x95, 0x0F,       //   Report Count (15)
        0x81, 0x02,       //   Input: buttons
        0x06, 0x00, 0xFF, //   Usage Page (Vendor 0xFF00)
        0x09, 0x21,       //   Usage (0x21)
        0x95, 0x0D,       //   Report Count (13)
        0x81, 0x02,       //   Input: the rest of the four button bytes
        0x26, 0xFF, 0x00, //   Logical Maximum (255)
        0x75, 0x08,       //   Report Size (8)
        0x09, 0x22,       //   Usage (0x22)
        0x95, 0x34,       //   Report Count (52)
        0x81, 0x02,       //   Input: motion, touch, battery
        0x85, 0x02,       //   Report ID (2)
        0x09, 0x23,       //   Usage (0x23)
        0x95, 0x3E,       //   Report Count (62)
        0x91, 0x02,       //   Output (Data, Variable, Absolute): rumble, lights, triggers
        0x85, 0x05,       //   Report ID (5)
        0x09, 0x33,       //   Usage (0x33)
        0x95, 0x28,       //   Report Count (40)
        0xB1, 0x02,       //   Feature: calibration
        0x85, 0x09,       //   Report ID (9)
        0x09, 0x24,       //   Usage (0x24)
        0x95, 0x13,       //   Report Count (19)
        0xB1, 0x02,       //   Feature: pairing info
        0x85, 0x20,       //   Report ID (32)
        0x09, 0x26,       //   Usage (0x26)
        0x95, 0x3F,       //   Report Count (63)
        0xB1, 0x02,       //   Feature: firmware info
        0xC0,             // End Collection
    ]

    /// The pad's MAC address in the usual order (as `uniq` shows it), derived from `unique` (a
    /// FractalID and the pad's place in its lease): the same string always gives the same MAC,
    /// different ones differ (FNV-1a, 48 bits), and it is a locally administered unicast address,
    /// so it never claims a real vendor's. hid-playstation refuses a second pad with a MAC
    /// already bound, and replaces the device's `uniq` with this MAC.
    public static func macAddress(for unique: String) -> [UInt8] {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in unique.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        var mac = (0..<6).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) }
        mac[0] = (mac[0] | 0x02) & 0xFE
        return mac
    }

    /// "aa:bb:cc:dd:ee:ff", as the kernel prints it (%pMR) into `uniq`.
    public static func macText(_ mac: [UInt8]) -> String {
        mac.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined(separator: ":")
    }

    /// Feature report 0x09: the pad's MAC, stored low byte first as the pad sends it.
    public static func pairingReport(mac: [UInt8]) -> [UInt8] {
        precondition(mac.count == 6, "a MAC is 6 bytes")
        var report = [UInt8](repeating: 0, count: pairingReportSize)
        report[0] = pairingReportID
        report.replaceSubrange(1...6, with: mac.reversed())
        return sealed(report)
    }

    /// What feature report 0x20 says: read by hid-playstation into sysfs's
    /// `hardware_version` and `firmware_version`, and by SDL to pick its report format.
    public static let hardwareVersion: UInt32 = 0x0000_0414
    public static let firmwareVersion: UInt32 = 0x0110_002A
    /// The "update version" at byte 44; 0x0224 and up is a firmware with the newer rumble mode.
    public static let updateVersion: UInt16 = 0x0224

    /// Feature report 0x20: build date and time (ASCII), then the versions at bytes 24, 28 and 44.
    public static func firmwareReport() -> [UInt8] {
        var report = [UInt8](repeating: 0, count: firmwareReportSize)
        report[0] = firmwareReportID
        report.replaceSubrange(1...11, with: Array("Jun 30 2023".utf8))
        report.replaceSubrange(12...19, with: Array("12:00:00".utf8))
        put(hardwareVersion, at: 24, in: &report)
        put(firmwareVersion, at: 28, in: &report)
        put(UInt32(updateVersion), at: 44, in: &report)
        report[46] = 0
        return sealed(report)
    }

    /// The calibration of report 0x05 and what it means for the raw values an input report
    /// carries. hid-playstation scales gyro readings by 2·speed·1024 / (plus − minus) and
    /// accelerometer readings by 2·8192 / (plus − minus) around their biases.
    /// Ours: no bias; gyro plus/minus ±8192 with speed 512, so one raw unit is 1/16 °/s and
    /// evdev shows raw × 64 (1/1024 °/s); accelerometer ±8192, so one raw unit is 1/8192 g and
    /// evdev shows the raw value as it is.
    public static let gyroRawPerDegreePerSecond = 16
    public static let accelerometerRawPerG = 8192
    /// What one raw gyro unit becomes on the motion node (its resolution is 1024 per °/s).
    public static let gyroEvdevPerRaw = 64

    /// Feature report 0x05 with the calibration above.
    public static func calibrationReport() -> [UInt8] {
        var report = [UInt8](repeating: 0, count: calibrationReportSize)
        report[0] = calibrationReportID
        // Bytes 1-6: gyro pitch, yaw and roll bias: 0.
        var offset = 7
        for _ in 0..<3 {  // gyro pitch, yaw, roll: plus then minus
            put16(8192, at: offset, in: &report)
            put16(-8192, at: offset + 2, in: &report)
            offset += 4
        }
        put16(512, at: 19, in: &report)  // gyro speed plus
        put16(512, at: 21, in: &report)  // gyro speed minus
        offset = 23
        for _ in 0..<3 {  // accelerometer x, y, z: plus then minus
            put16(8192, at: offset, in: &report)
            put16(-8192, at: offset + 2, in: &report)
            offset += 4
        }
        return sealed(report)
    }

    /// The feature report hid-playstation (or a program, through hidraw) asks for, or nil for
    /// one the pad does not answer.
    public static func featureReport(_ id: UInt8, mac: [UInt8]) -> [UInt8]? {
        switch id {
        case calibrationReportID: return calibrationReport()
        case pairingReportID: return pairingReport(mac: mac)
        case firmwareReportID: return firmwareReport()
        default: return nil
        }
    }

    // The last four bytes: the CRC of the rest, as a Bluetooth pad sends it.
    private static func sealed(_ report: [UInt8]) -> [UInt8] {
        var report = report
        let end = report.count - 4
        put(PlayStationCRC32.checksum(seed: PlayStationCRC32.featureSeed, report[..<end]), at: end, in: &report)
        return report
    }

    static func put(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
    }

    static func put16(_ value: Int16, at offset: Int, in bytes: inout [UInt8]) {
        let bits = UInt16(bitPattern: value)
        bytes[offset] = UInt8(truncatingIfNeeded: bits)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: bits >> 8)
    }

    /// The player LEDs (bit 0 the leftmost of five) for player `number`, as hid-playstation
    /// and the console light them: 1 the middle one, 2 the two beside it, up to 5 all; later
    /// players repeat from 1.
    public static func playerLEDMask(_ number: Int) -> UInt8 {
        let patterns: [UInt8] = [0b00100, 0b01010, 0b10101, 0b11011, 0b11111]
        return patterns[(max(number, 1) - 1) % patterns.count]
    }
}
