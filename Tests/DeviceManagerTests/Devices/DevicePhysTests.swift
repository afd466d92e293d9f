import Testing
@testable import DeviceManager

@Suite struct DevicePhysTests {
    @Test func physNamesTheSessionAndTheRole() throws {
        let id = try FractalID("session-1")
        #expect(DevicePhys.make(id: id, role: .gamepad) == "fractal/session-1/gamepad")
    }

    @Test(arguments: DeviceRole.allCases)
    func physOfARandomIDIsAccepted(role: DeviceRole) throws {
        try DevicePhys.validate(DevicePhys.make(id: .random(), role: role))
    }

    @Test func longPhysIsRefused() throws {
        let phys = "fractal/" + String(repeating: "a", count: 72)
        #expect(phys.utf8.count == 80)
        #expect(throws: DeviceProfileError.physTooLong(phys, bytes: 80, limit: 79)) { try DevicePhys.validate(phys) }
        try DevicePhys.validate(String(phys.dropLast()))
    }

    @Test func nulInPhysIsRefused() {
        #expect(throws: DeviceProfileError.nulByte(field: "phys")) { try DevicePhys.validate("fractal/\0/mouse") }
    }
}
