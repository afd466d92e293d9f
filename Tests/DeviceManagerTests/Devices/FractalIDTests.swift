import Foundation
import Testing
@testable import DeviceManager

// FractalID lives in Sources/DeviceManager/FractalID.swift; its tests sit here, next to the
// phys that embeds it, until it has a test folder of its own.
@Suite struct FractalIDTests {
    @Test func randomIDsAre32HexDigitsAndDistinct() {
        let ids = (0..<200).map { _ in FractalID.random() }
        for id in ids {
            #expect(id.rawValue.utf8.count == 32)
            #expect(id.rawValue.allSatisfy { $0.isHexDigit && !$0.isUppercase })
            #expect((try? FractalID(id.rawValue)) == id)
        }
        #expect(Set(ids).count == ids.count)
    }

    @Test(arguments: ["", "A", "../x", "a/b", String(repeating: "a", count: FractalID.maximumLength + 1), "-a", "_a", "a b", "é"])
    func badIDsAreRejected(text: String) {
        #expect(throws: FractalIDError.self) { try FractalID(text) }
    }

    @Test func errorsSayWhatIsWrong() {
        #expect(throws: FractalIDError.empty) { try FractalID("") }
        let long = String(repeating: "a", count: FractalID.maximumLength + 1)
        #expect(throws: FractalIDError.tooLong(long, limit: FractalID.maximumLength)) { try FractalID(long) }
        #expect(throws: FractalIDError.invalidCharacter("a/b", position: 1)) { try FractalID("a/b") }
        #expect(throws: FractalIDError.invalidCharacter("-a", position: 0)) { try FractalID("-a") }
    }

    @Test(arguments: ["a", "0", "session-1", "a_b", String(repeating: "z", count: FractalID.maximumLength)])
    func goodIDsAreAccepted(text: String) throws {
        #expect(try FractalID(text).rawValue == text)
    }
}

@Suite struct FractalIDPhysTests {
    /// The longest ID must still fit the phys of the longest role name.
    @Test func theLongestIDFitsEveryRolesPhys() throws {
        let id = try FractalID(String(repeating: "z", count: FractalID.maximumLength))
        for role in DeviceRole.allCases {
            #expect(throws: Never.self) { try DevicePhys.validate(DevicePhys.make(id: id, role: role)) }
        }
    }

    /// A uhid pad's phys field is shorter (63 bytes): an ID too long for it is refused before
    /// anything is made, naming the longest that fits.
    @Test func anIDTooLongForAPadsPhysIsRefusedNamingTheLimit() throws {
        let directory = NSTemporaryDirectory() + "fractal-pad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/roots", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = try LeaseManager(configuration: .init(stateDirectory: directory + "/state", allowedRoots: [directory + "/roots"]))
        let id = try FractalID(String(repeating: "z", count: FractalID.maximumLength))
        #expect {
            try manager.create(LeaseRequest(id: id, devices: [.switchPro]))
        } throws: { error in
            guard case LeaseError.idTooLongForPad(_, let handle, let limit) = error, handle == DeviceHandle(.switchPro) else { return false }
            return limit == 44 && "\(error)".contains("at most 44 characters")
        }
        #expect(manager.leases().isEmpty)
    }
}
