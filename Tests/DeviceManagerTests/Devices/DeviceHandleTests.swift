import Foundation
import Testing
@testable import DeviceManager

/// How a lease names its devices when several game controllers share a role.
@Suite struct DeviceHandleTests {
    @Test func theFirstOfARoleIsTheRoleAndLaterOnesAreNumbered() {
        #expect(DeviceHandle(.gamepad).description == "gamepad")
        #expect(DeviceHandle(.switchPro, number: 3).description == "switch-pro-3")
        #expect(DeviceHandle.assign([.keyboard, .gamepad, .dualsense, .gamepad]).map(\.description)
            == ["keyboard", "gamepad", "dualsense", "gamepad-2"])
        // Plugged later: numbered on from what the lease has.
        #expect(DeviceHandle.assign([.gamepad], after: [DeviceHandle(.gamepad), DeviceHandle(.gamepad, number: 3)]) == [DeviceHandle(.gamepad, number: 4)])
    }

    @Test func onlyWhatALeaseCanHoldParses() {
        for text in ["keyboard", "gamepad", "gamepad-2", "dualsense-8", "switch-pro", "switch-pro-4"] {
            #expect(DeviceHandle(text)?.description == text, "\(text)")
        }
        // Numbers only on game controllers, 2 to 8, written plainly; no unknown role.
        for text in ["keyboard-2", "gamepad-1", "gamepad-9", "gamepad-02", "gamepad-+3", "gamepad-", "switch", "pro-2", "", "../x"] {
            #expect(DeviceHandle(text) == nil, "\(text)")
        }
    }

    @Test func itIsAStringInJSONAndRecordsWithoutOneAreTheirRolesFirst() throws {
        let data = try JSONEncoder().encode([DeviceHandle(.dualsense, number: 2)])
        #expect(String(decoding: data, as: UTF8.self) == #"["dualsense-2"]"#)
        #expect(try JSONDecoder().decode([DeviceHandle].self, from: data) == [DeviceHandle(.dualsense, number: 2)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([DeviceHandle].self, from: Data(#"["mouse-2"]"#.utf8)) }
        let old = #"{"role": "gamepad", "name": "n", "phys": "fractal/a/gamepad", "sysname": "input3", "nodes": []}"#
        #expect(try JSONDecoder().decode(LeasedDevice.self, from: Data(old.utf8)).handle == DeviceHandle(.gamepad))
    }

    @Test func aLeaseRefusesARepeatedRoleThatIsNoGameControllerAndMoreThanEightControllers() throws {
        let directory = NSTemporaryDirectory() + "fractal-handles-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/roots", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = try LeaseManager(configuration: .init(stateDirectory: directory + "/state", allowedRoots: [directory + "/roots"]))
        #expect {
            try manager.create(LeaseRequest(devices: [.keyboard, .mouse, .keyboard]))
        } throws: { error in
            guard case LeaseError.duplicateRole(.keyboard) = error else { return false }
            return true
        }
        #expect {
            try manager.create(LeaseRequest(devices: Array(repeating: .gamepad, count: 6), hotplug: [.gamepad, .gamepad, .gamepad]))
        } throws: { error in
            guard case LeaseError.tooManyGamepads(9, limit: 8) = error else { return false }
            return "\(error)".contains("at most 8")
        }
        #expect(manager.leases().isEmpty)
    }

    @Test func playersAreCountedAmongTheLeasesGameControllersOnly() {
        let lineup = DeviceHandle.assign([.keyboard, .dualsense, .mouse, .gamepad, .dualsense])
        #expect(lineup.map { Lease.player(of: $0, among: lineup) } == [nil, 1, nil, 2, 3])
        #expect(DualSenseReports.playerLEDMask(1) == 0b00100 && DualSenseReports.playerLEDMask(6) == 0b00100)
        #expect(SwitchProReports.playerLightsMask(4) == 0xF && SwitchProReports.playerLightsMask(5) == 0x9)
    }
}
