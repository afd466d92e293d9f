import Testing
@testable import DeviceManager

/// Output reports as hid-nintendo (and games through hidraw) write them.
@Suite struct SwitchProOutputTests {
    // What hid-nintendo encodes for FF_RUMBLE strong 0xC000 (left) and weak 0x4000 (right) at its
    // default 160/320 Hz: amplitudes 752 and 250 of 1003, rounded up to the table's 757 and 251.
    private let played: [UInt8] = [0x00, 0xAF, 0xC0, 0x6B, 0x00, 0x49, 0x40, 0x52]
    // Its silent rumble, amplitude 0 on both bands.
    private let silent: [UInt8] = [0x00, 0x01, 0x40, 0x40, 0x00, 0x01, 0x40, 0x40]

    @Test func rumbleOnlyReportDecodesBothMotors() throws {
        let output = try SwitchProOutput.decode([0x10, 0x03] + played)
        let rumble = try #require(output.rumble)
        #expect(rumble.left.highAmplitude == 757 && rumble.left.lowAmplitude == 757)
        #expect(rumble.right.highAmplitude == 251 && rumble.right.lowAmplitude == 251)
        #expect(abs(rumble.left.highFrequency - 320) < 0.5 && abs(rumble.left.lowFrequency - 160) < 0.5)
        #expect(rumble.strong == 0xC0 && rumble.weak == 0x40, "back to FF_RUMBLE's magnitudes / 256")
        #expect(output.playerLights == nil && output.homeLight == nil)
    }

    @Test func silenceAndTheDriversZeroedProbeRumbleAreNoAmplitude() throws {
        for bytes in [silent, [UInt8](repeating: 0, count: 8)] {
            let rumble = try #require(try SwitchProOutput.decode([0x10, 0] + bytes).rumble)
            #expect(rumble.strong == 0 && rumble.weak == 0)
            #expect(rumble.left.lowAmplitude == 0 && rumble.right.highAmplitude == 0)
        }
    }

    @Test func amplitudeCodesAboveTheTableAreCut() throws {
        let rumble = try #require(try SwitchProOutput.decode([0x10, 0, 0x00, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0]).rumble)
        #expect(rumble.left.highAmplitude == 1003 && rumble.left.lowAmplitude == 1003)
        #expect(SwitchProMotor.amplitudes.count == 101)
    }

    @Test func playerLightsSubcommand() throws {
        // joycon_set_player_leds(ctlr, 0, 0xF >> 3): player 1.
        let report = try SwitchProOutputReport.parse([0x01, 0x05] + silent + [0x30, 0x01])
        #expect(report == .subcommand(id: 0x30, data: [0x01], rumble: SwitchProRumble(silent[...])))
        let lights = try #require(report.output.playerLights)
        #expect(lights == SwitchProPlayerLights(on: 0x01) && lights.player == 1)
        #expect(SwitchProPlayerLights(on: 0x07).player == 3)
        #expect(SwitchProPlayerLights(on: 0x05).player == nil)
        #expect(SwitchProPlayerLights(on: 0x01, flashing: 0x01).player == nil)
    }

    @Test func homeLightSubcommand() throws {
        let output = try SwitchProOutput.decode([0x01, 0] + silent + [0x38, 0x01, 0xF0, 0xFF, 0x11, 0x11])
        #expect(output.homeLight == 15)
    }

    @Test func otherSubcommandsCarryOnlyTheirRumble() throws {
        let output = try SwitchProOutput.decode([0x01, 0] + silent + [0x40, 0x01])
        #expect(output == SwitchProOutput(rumble: SwitchProRumble(silent[...])))
    }

    @Test func usbCommandsAskNothing() throws {
        #expect(try SwitchProOutputReport.parse([0x80, 0x02]) == .usbCommand(0x02))
        #expect(try SwitchProOutput.decode([0x80, 0x04]).isEmpty)
    }

    @Test func malformedReportsAreRefusedWhole() {
        #expect(throws: SwitchProReportError.empty) { try SwitchProOutput.decode([]) }
        #expect(throws: SwitchProReportError.unknownReportID(0x30)) { try SwitchProOutput.decode([0x30, 0, 0]) }
        #expect(throws: SwitchProReportError.tooShort(reportID: 0x01, size: 10, expected: 11)) {
            try SwitchProOutput.decode([0x01, 0] + silent)
        }
        #expect(throws: SwitchProReportError.tooShort(reportID: 0x80, size: 1, expected: 2)) { try SwitchProOutput.decode([0x80]) }
        #expect(throws: SwitchProReportError.tooShort(reportID: 0x10, size: 9, expected: 10)) {
            try SwitchProOutput.decode([0x10, 0] + silent.dropLast())
        }
    }
}
