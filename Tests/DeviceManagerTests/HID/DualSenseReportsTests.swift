import Testing
@testable import DeviceManager

/// The DualSense's reports as hid-playstation (Linux 6.1) reads them: sizes, report IDs,
/// offsets, CRCs and what our calibration makes of raw motion values.
@Suite struct DualSenseReportsTests {
    @Test func crc32IsZlibsWithTheSeedFirst() {
        #expect(PlayStationCRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        let data: [UInt8] = [1, 2, 3]
        #expect(PlayStationCRC32.checksum(seed: 0xA3, data) == PlayStationCRC32.checksum([0xA3] + data))
    }

    @Test(arguments: [
        (DualSenseReports.calibrationReportID, DualSenseReports.calibrationReportSize),
        (DualSenseReports.pairingReportID, DualSenseReports.pairingReportSize),
        (DualSenseReports.firmwareReportID, DualSenseReports.firmwareReportSize),
    ])
    func featureReportsHaveTheDriversSizeIDAndCRC(id: UInt8, size: Int) throws {
        let report = try #require(DualSenseReports.featureReport(id, mac: DualSenseReports.macAddress(for: "x")))
        #expect(report.count == size)
        #expect(report[0] == id)
        let carried = le32(report, size - 4)
        #expect(carried == PlayStationCRC32.checksum(seed: PlayStationCRC32.featureSeed, report[..<(size - 4)]))
    }

    @Test func unknownFeatureReportsAreNotAnswered() {
        #expect(DualSenseReports.featureReport(0x08, mac: [0, 0, 0, 0, 0, 0]) == nil)
    }

    @Test func macIsStableDistinctLocalUnicastAndSentLowByteFirst() {
        let a = DualSenseReports.macAddress(for: "fractal/aaaa/dualsense")
        let b = DualSenseReports.macAddress(for: "fractal/aaab/dualsense")
        #expect(a == DualSenseReports.macAddress(for: "fractal/aaaa/dualsense"))
        #expect(a != b)
        #expect(a.count == 6)
        #expect(a[0] & 0x02 == 0x02, "locally administered")
        #expect(a[0] & 0x01 == 0, "unicast")
        let pairing = DualSenseReports.pairingReport(mac: a)
        #expect(Array(pairing[1...6]) == a.reversed())
        #expect(DualSenseReports.macText([0x0A, 0xBC, 0, 1, 0xFF, 0x10]) == "0a:bc:00:01:ff:10")
    }

    @Test func firmwareReportCarriesTheVersionsWhereTheDriverReadsThem() {
        let report = DualSenseReports.firmwareReport()
        #expect(le32(report, 24) == DualSenseReports.hardwareVersion)
        #expect(le32(report, 28) == DualSenseReports.firmwareVersion)
        #expect(UInt16(report[44]) | UInt16(report[45]) << 8 == DualSenseReports.updateVersion)
    }

    @Test func calibrationScalesAsDocumented() {
        let report = DualSenseReports.calibrationReport()
        func s16(_ offset: Int) -> Int { Int(Int16(bitPattern: UInt16(report[offset]) | UInt16(report[offset + 1]) << 8)) }
        // hid-playstation: gyro scale = (speed+ + speed-)·1024 / (plus − minus), bias at 1, 3, 5.
        for axis in 0..<3 {
            #expect(s16(1 + 2 * axis) == 0)
            let scale = (s16(19) + s16(21)) * 1024 / (s16(7 + 4 * axis) - s16(9 + 4 * axis))
            #expect(scale == DualSenseReports.gyroEvdevPerRaw)
            #expect(1024 / scale == DualSenseReports.gyroRawPerDegreePerSecond)
            // Accelerometer: 2·8192 / (plus − minus), bias plus − range/2.
            let range = s16(23 + 4 * axis) - s16(25 + 4 * axis)
            #expect(2 * 8192 / range == 1)
            #expect(s16(23 + 4 * axis) - range / 2 == 0)
            #expect(range / 2 == DualSenseReports.accelerometerRawPerG)
        }
    }

    @Test func descriptorDeclaresTheReportsWithTheirSizes() {
        // Walk the short items, keeping Report ID / Size / Count, and add up each report's bits.
        var bits: [String: Int] = [:]
        var reportID = 0, size = 0, count = 0
        var index = 0
        let descriptor = DualSenseReports.reportDescriptor
        while index < descriptor.count {
            let prefix = descriptor[index]
            let length = [0, 1, 2, 4][Int(prefix & 0x03)]
            var value = 0
            for byte in 0..<length { value |= Int(descriptor[index + 1 + byte]) << (8 * byte) }
            switch prefix & 0xFC {
            case 0x84: reportID = value
            case 0x74: size = value
            case 0x94: count = value
            case 0x80: bits["input \(reportID)", default: 0] += size * count
            case 0x90: bits["output \(reportID)", default: 0] += size * count
            case 0xB0: bits["feature \(reportID)", default: 0] += size * count
            default: break
            }
            index += 1 + length
        }
        #expect(bits["input 1"] == (DualSenseReports.inputReportSize - 1) * 8)
        #expect(bits["output 2"] == (DualSenseReports.outputReportSize - 1) * 8)
        #expect(bits["feature 5"] == (DualSenseReports.calibrationReportSize - 1) * 8)
        #expect(bits["feature 9"] == (DualSenseReports.pairingReportSize - 1) * 8)
        #expect(bits["feature 32"] == (DualSenseReports.firmwareReportSize - 1) * 8)
        #expect(descriptor.last == 0xC0)
    }

    private func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

    /// The Bluetooth input report hid-playstation checks: 0x31, 78 bytes, the USB report's 63
    /// bytes from byte 2, the sequence in the high nibble, and the CRC of the rest (seed 0xA1).
    @Test func theBluetoothInputReportWrapsTheUSBOneAndSealsIt() {
        var input = DualSenseInput()
        input.buttons = [.cross]
        let usb = input.report(sequence: 7)
        let bluetooth = DualSenseReports.bluetoothInputReport(wrapping: usb, sequence: 7)
        #expect(bluetooth.count == 78 && bluetooth[0] == 0x31 && bluetooth[1] == 0x70)
        #expect(Array(bluetooth[2..<65]) == Array(usb[1...]))
        let crc = PlayStationCRC32.checksum(seed: PlayStationCRC32.inputSeed, bluetooth[..<74])
        let carried = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bluetooth[74 + $1]) << (8 * UInt32($1)) }
        #expect(carried == crc)
        #expect(DualSenseTransport.bluetooth.bus == 0x05 && DualSenseTransport.usb.bus == 0x03)
    }
}
