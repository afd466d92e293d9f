import Testing
@testable import DeviceManager

/// Output reports as hid-playstation (and games through hidraw) write them.
@Suite struct DualSenseOutputTests {
    // A USB output report with the common part's bytes set at `common` offsets.
    private func usbReport(_ common: [Int: UInt8]) -> [UInt8] {
        var report = [UInt8](repeating: 0, count: 63)
        report[0] = 0x02
        for (offset, value) in common { report[1 + offset] = value }
        return report
    }

    @Test func rumbleFromCompatibleVibration() throws {
        let output = try DualSenseOutput.decode(usbReport([0: 0x03, 2: 0x40, 3: 0xC0]))
        #expect(output.rumble == DualSenseRumble(strong: 0xC0, weak: 0x40))
        #expect(output.lightbar == nil && output.playerLEDs == nil)
    }

    @Test func rumbleFromTheNewerFirmwaresFlag() throws {
        let output = try DualSenseOutput.decode(usbReport([0: 0x02, 38: 0x04, 2: 1, 3: 2]))
        #expect(output.rumble == DualSenseRumble(strong: 2, weak: 1))
    }

    @Test func motorBytesWithoutTheirFlagAreNoRumble() throws {
        #expect(try DualSenseOutput.decode(usbReport([2: 9, 3: 9])).rumble == nil)
    }

    @Test func lightbarPlayerAndMuteLEDs() throws {
        let output = try DualSenseOutput.decode(usbReport([1: 0x15, 8: 1, 43: 0x24, 44: 10, 45: 20, 46: 30]))
        #expect(output.lightbar == DualSenseColor(red: 10, green: 20, blue: 30))
        #expect(output.playerLEDs == DualSensePlayerLEDs(mask: 0x04, instant: true))
        #expect(output.muteLED == 1)
        #expect(output.rumble == nil)
    }

    @Test func triggerEffects() throws {
        var common: [Int: UInt8] = [0: 0x0C, 10: 0x21, 21: 0x26]
        for index in 1...10 {
            common[10 + index] = UInt8(index)
            common[21 + index] = UInt8(100 + index)
        }
        let output = try DualSenseOutput.decode(usbReport(common))
        #expect(output.rightTrigger == DualSenseTriggerEffect(mode: 0x21, parameters: Array(1...10)))
        #expect(output.leftTrigger == DualSenseTriggerEffect(mode: 0x26, parameters: Array(101...110)))
    }

    @Test func aReportWithNothingWeModelIsEmpty() throws {
        #expect(try DualSenseOutput.decode(usbReport([1: 0x02, 9: 1])).isEmpty)
    }

    @Test func bluetoothReportsAreCheckedAndRead() throws {
        var report = [UInt8](repeating: 0, count: 78)
        report[0] = 0x31
        report[2] = 0x10
        report[3 + 1] = 0x04
        report[3 + 44] = 7
        let crc = PlayStationCRC32.checksum(seed: PlayStationCRC32.outputSeed, report[..<74])
        for index in 0..<4 { report[74 + index] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index))) }
        #expect(try DualSenseOutput.decode(report).lightbar == DualSenseColor(red: 7, green: 0, blue: 0))
        report[10] ^= 1
        #expect(throws: DualSenseReportError.badChecksum(reportID: 0x31)) { try DualSenseOutput.decode(report) }
    }

    /// SDL2's HIDAPI driver writes its Bluetooth effects report with 0x02 after the ID and the
    /// common part at byte 2, one byte before where the kernel puts it.
    @Test func sdlsBluetoothLayoutIsReadAsWellAsTheKernels() throws {
        var report = [UInt8](repeating: 0, count: 78)
        report[0] = 0x31
        report[1] = 0x02
        report[2] = 0x01  // rumble emulation
        report[3] = 0x04  // lightbar
        report[4] = 0x40
        report[5] = 0xC0
        report[2 + 44] = 16
        report[2 + 45] = 32
        report[2 + 46] = 48
        let crc = PlayStationCRC32.checksum(seed: PlayStationCRC32.outputSeed, report[..<74])
        for index in 0..<4 { report[74 + index] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index))) }
        let output = try DualSenseOutput.decode(report)
        #expect(output.rumble == DualSenseRumble(strong: 0xC0, weak: 0x40))
        #expect(output.lightbar == DualSenseColor(red: 16, green: 32, blue: 48))
    }

    @Test func malformedReportsAreRefusedNotHalfRead() {
        #expect(throws: DualSenseReportError.empty) { try DualSenseOutput.decode([]) }
        #expect(throws: DualSenseReportError.unknownReportID(0x05)) { try DualSenseOutput.decode([0x05, 1, 2]) }
        #expect(throws: DualSenseReportError.tooShort(reportID: 0x02, size: 10, expected: 63)) {
            try DualSenseOutput.decode([0x02] + [UInt8](repeating: 0, count: 9))
        }
    }
}
