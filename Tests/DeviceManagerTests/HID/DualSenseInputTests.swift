import Testing
@testable import DeviceManager

/// The input report hid-playstation parses (struct dualsense_input_report after the report ID).
@Suite struct DualSenseInputTests {
    @Test func restingPadIsCentredWithNoFingers() {
        let report = DualSenseInput().report(sequence: 7)
        #expect(report.count == 64)
        #expect(report[0] == 0x01)
        #expect(Array(report[1...6]) == [128, 128, 128, 128, 0, 0])
        #expect(report[7] == 7)
        #expect(report[8] == 8, "hat neutral, no buttons")
        #expect(report[33] & 0x80 != 0 && report[37] & 0x80 != 0, "both touch points inactive")
        #expect(report[53] == 10, "full battery, discharging")
    }

    @Test func sticksTriggersAndButtonsSitWhereTheDriverReadsThem() {
        var input = DualSenseInput()
        input.leftStick = DualSenseStick(x: 1, y: 2)
        input.rightStick = DualSenseStick(x: 3, y: 4)
        input.leftTrigger = 5
        input.rightTrigger = 6
        input.dpad = .downLeft
        input.buttons = [.cross, .triangle, .l1, .r2, .options, .r3, .ps, .touchpad, .mute]
        let report = input.report(sequence: 0)
        #expect(Array(report[1...6]) == [1, 2, 3, 4, 5, 6])
        // buttons[0]: hat 0-3, square 4, cross 5, circle 6, triangle 7.
        #expect(report[8] == 0x05 | 0x20 | 0x80)
        // buttons[1]: L1 0, R1 1, L2 2, R2 3, create 4, options 5, L3 6, R3 7.
        #expect(report[9] == 0x01 | 0x08 | 0x20 | 0x80)
        // buttons[2]: PS 0, touchpad 1, mute 2.
        #expect(report[10] == 0x07)
        #expect(report[11] == 0)
    }

    @Test func everyButtonHasItsOwnBit() {
        let all: [DualSenseButtons] = [
            .square, .cross, .circle, .triangle, .l1, .r1, .l2, .r2, .create, .options, .l3, .r3, .ps, .touchpad, .mute,
        ]
        #expect(Set(all.map(\.rawValue)).count == all.count)
        #expect(all.allSatisfy { $0.rawValue & 0x0F == 0 }, "the low nibble is the hat's")
    }

    @Test func motionIsLittleEndianSigned() {
        var input = DualSenseInput()
        input.gyro = DualSenseVector(x: -2, y: 0x1234, z: 1)
        input.accelerometer = DualSenseVector(x: 8192, y: -8192, z: 0)
        input.sensorTimestamp = 0x0A0B_0C0D
        let report = input.report(sequence: 0)
        #expect(Array(report[16...21]) == [0xFE, 0xFF, 0x34, 0x12, 0x01, 0x00])
        #expect(Array(report[22...27]) == [0x00, 0x20, 0x00, 0xE0, 0x00, 0x00])
        #expect(Array(report[28...31]) == [0x0D, 0x0C, 0x0B, 0x0A])
    }

    @Test func touchPointsPackTwelveBitCoordinates() {
        var input = DualSenseInput()
        input.touches = [DualSenseTouch(id: 3, x: 1919, y: 1079), nil]
        let report = input.report(sequence: 0)
        let point = Array(report[33...36])
        #expect(point[0] == 3, "active: bit 7 clear")
        let x = Int(point[1]) | Int(point[2] & 0x0F) << 8
        let y = Int(point[2] >> 4) | Int(point[3]) << 4
        #expect(x == 1919 && y == 1079)
        #expect(report[37] & 0x80 != 0)
    }

    @Test func touchCoordinatesBeyondThePadAreClamped() {
        var input = DualSenseInput()
        input.touches = [nil, DualSenseTouch(id: 127, x: 5000, y: 5000)]
        let point = Array(input.report(sequence: 0)[37...40])
        #expect(point[0] == 127)
        #expect(Int(point[1]) | Int(point[2] & 0x0F) << 8 == 1919)
        #expect(Int(point[2] >> 4) | Int(point[3]) << 4 == 1079)
    }

    @Test func batteryIsTensAndChargingState() {
        var input = DualSenseInput()
        input.battery = DualSenseBattery(percent: 57, charging: .charging)
        #expect(input.report(sequence: 0)[53] == 0x15)
        input.battery = DualSenseBattery(percent: 100, charging: .full)
        #expect(input.report(sequence: 0)[53] == 0x2A)
        input.battery = DualSenseBattery(percent: 255, charging: .discharging)
        #expect(input.report(sequence: 0)[53] == 0x0A, "more than 100 % is 100 %")
    }
}
