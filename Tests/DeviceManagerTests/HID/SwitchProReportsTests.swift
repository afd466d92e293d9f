import Testing
@testable import DeviceManager

/// The Switch Pro's replies as hid-nintendo (Linux 6.1) reads them: USB responses, subcommand
/// replies, the SPI flash and its calibration, and the full input report's layout.
@Suite struct SwitchProReportsTests {
    private let mac: [UInt8] = [0xA6, 0x01, 0x02, 0x03, 0x04, 0x05]

    // What hid_field_extract(raw + offset, shift, 12) reads.
    private func twelveBits(_ bytes: [UInt8], _ offset: Int, shift: Int) -> Int {
        (Int(bytes[offset]) | Int(bytes[offset + 1]) << 8) >> shift & 0x0FFF
    }

    private func le16(_ bytes: [UInt8], _ offset: Int) -> Int16 {
        Int16(bitPattern: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
    }

    @Test func usbResponsesEchoTheCommand() {
        for command: UInt8 in [0x02, 0x03, 0x04] {
            let report = SwitchProReports.usbResponse(to: command, mac: mac)
            #expect(report.count == 64)
            #expect(Array(report[0...1]) == [0x81, command])
        }
        #expect(Array(SwitchProReports.usbResponse(to: 0x01, mac: mac)[2...9]) == [0x00, 0x03] + mac.reversed())
    }

    @Test func deviceInfoSaysProControllerWithTheMAC() {
        let (ack, data) = SwitchProReports.subcommandReply(id: 0x02, data: [], mac: mac, playerLights: 0)
        #expect(ack == 0x82)
        #expect(data[2] == 0x03, "type 3 is the Pro Controller: both sticks")
        #expect(Array(data[4...9]) == mac, "the driver prints bytes 4-9 in order as the uniq")
        #expect(SwitchProReports.macText(mac) == "A6:01:02:03:04:05")
    }

    @Test func replyCarriesStateAckIDAndDataWhereTheDriverReadsThem() {
        var input = SwitchProInput()
        input.buttons = [.a]
        let report = input.subcommandReply(timer: 7, ack: 0x90, id: 0x10, data: [1, 2, 3])
        #expect(report.count == 64 && report.count >= SwitchProReports.minimumParsedSize)
        #expect(report[0] == 0x21 && report[1] == 7)
        #expect(report[3] == 0x08, "A is bit 3 of the right byte")
        #expect(Array(report[13...17]) == [0x90, 0x10, 1, 2, 3])
        #expect(twelveBits(report, 6, shift: 0) == 2048 && twelveBits(report, 7, shift: 4) == 2048, "sticks at rest")
    }

    @Test func spiReadsEchoAddressAndSizeThenTheFlash() {
        let request: [UInt8] = [0x3D, 0x60, 0x00, 0x00, 9]
        let (ack, data) = SwitchProReports.subcommandReply(id: 0x10, data: request, mac: mac, playerLights: 0)
        #expect(ack == 0x90)
        #expect(Array(data[0..<5]) == request)
        #expect(data.count == 14)
        // The driver reads the flash at reply data byte 5: report byte 20.
        #expect(Array(data[5...]) == SwitchProReports.flash(at: 0x603D, count: 9))
    }

    @Test func oversizedSPIReadsAreRefused() {
        let (ack, data) = SwitchProReports.subcommandReply(id: 0x10, data: [0, 0x60, 0, 0, 0x1E], mac: mac, playerLights: 0)
        #expect(ack == 0x00 && data.isEmpty)
    }

    @Test func noUserCalibrationMagicSoTheFactoryValuesAreUsed() {
        for address in [SwitchProReports.FlashAddress.userLeftStickMagic, SwitchProReports.FlashAddress.userRightStickMagic, SwitchProReports.FlashAddress.userIMUMagic] {
            #expect(SwitchProReports.flash(at: address, count: 2) != [0xB2, 0xA1])
        }
        #expect(SwitchProReports.flash(at: 0x7000, count: 3) == [0xFF, 0xFF, 0xFF], "erased flash")
    }

    // joycon_read_stick_calibration: the driver refuses values unless min < centre < max.
    @Test func stickCalibrationIsPlausibleAndCentred() {
        let left = SwitchProReports.flash(at: SwitchProReports.FlashAddress.factoryLeftStick, count: 9)
        let right = SwitchProReports.flash(at: SwitchProReports.FlashAddress.factoryRightStick, count: 9)
        // Left: above (0), centre (3), below (6); right: centre (0), below (3), above (6).
        for (raw, above, centre, below) in [(left, 0, 3, 6), (right, 6, 0, 3)] {
            for shift in [0, 4] {
                let extra = shift == 0 ? 0 : 1
                let c = twelveBits(raw, centre + extra, shift: shift)
                #expect(c == 2048)
                #expect(twelveBits(raw, above + extra, shift: shift) == 2047)
                #expect(twelveBits(raw, below + extra, shift: shift) == 2048)
            }
        }
    }

    @Test func imuCalibrationHasNoOffsetsAndTheDefaultScales() {
        let raw = SwitchProReports.flash(at: SwitchProReports.FlashAddress.factoryIMU, count: 24)
        for axis in 0..<3 {
            #expect(le16(raw, 2 * axis) == 0)
            #expect(le16(raw, 6 + 2 * axis) == 16384)
            #expect(le16(raw, 12 + 2 * axis) == 0)
            #expect(le16(raw, 18 + 2 * axis) == 13371)
        }
    }

    @Test func fullReportLayout() {
        var input = SwitchProInput()
        input.buttons = [.b, .plus, .up, .zl]
        input.leftStick = SwitchProStick(x: 4095, y: 0)
        input.rightStick = SwitchProStick(x: 0x123, y: 0xABC)
        input.motion = [SwitchProMotion(accelerometer: SwitchProVector(x: 1, y: -2, z: 4096), gyro: SwitchProVector(x: 100, y: 0, z: -100))]
        input.battery = SwitchProBattery(level: .medium, charging: true, powered: true)
        let report = input.report(timer: 200)
        #expect(report.count == 64)
        #expect(report[0] == 0x30 && report[1] == 200)
        #expect(report[2] >> 5 == 2 && report[2] & 0x10 != 0 && report[2] & 0x01 != 0)
        // hid_field_extract(button_status, 0, 24).
        let buttons = UInt32(report[3]) | UInt32(report[4]) << 8 | UInt32(report[5]) << 16
        #expect(buttons == 1 << 2 | 1 << 9 | 1 << 17 | 1 << 23)
        #expect(twelveBits(report, 6, shift: 0) == 4095 && twelveBits(report, 7, shift: 4) == 0)
        #expect(twelveBits(report, 9, shift: 0) == 0x123 && twelveBits(report, 10, shift: 4) == 0xABC)
        #expect(report[12] != 0)
        // Three samples of accel x, y, z, gyro x, y, z from byte 13; one given, repeated.
        for sample in 0..<3 {
            let base = 13 + 12 * sample
            #expect([0, 1, 2, 3, 4, 5].map { le16(report, base + 2 * $0) } == [1, -2, 4096, 100, 0, -100])
        }
    }

    @Test func descriptorDeclaresEveryReportID() {
        let descriptor = SwitchProReports.reportDescriptor
        var ids: [UInt8] = []
        for index in 0..<(descriptor.count - 1) where descriptor[index] == 0x85 { ids.append(descriptor[index + 1]) }
        #expect(Set(ids) == [0x30, 0x21, 0x81, 0x3F, 0x01, 0x10, 0x11, 0x80, 0x82])
        #expect(descriptor.last == 0xC0)
    }
}
