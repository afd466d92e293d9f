import Foundation
import Testing
@testable import DeviceManager

/// Reading /sys/bus/hid, against a tree laid out as the kernel lays it out.
@Suite struct HIDSysfsTests {
    private let root = FileManager.default.temporaryDirectory.appending(path: "hidsysfs-\(UUID().uuidString)").path

    private func make(_ device: String, phys: String, driver: String?, probed: Bool) throws -> String {
        let path = "\(root)/devices/\(device)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try "DRIVER=\(driver ?? "")\nHID_PHYS=\(phys)\nHID_UNIQ=aa:bb\n".write(toFile: path + "/uevent", atomically: true, encoding: .utf8)
        if let driver {
            try FileManager.default.createDirectory(atPath: "\(root)/drivers/\(driver)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: path + "/driver", withDestinationPath: "\(root)/drivers/\(driver)")
        }
        if probed { try "0x0110002a\n".write(toFile: path + "/firmware_version", atomically: true, encoding: .utf8) }
        return path
    }

    @Test func findsTheSettledDeviceWithThePhysOnly() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try make("0003:054C:0CE6.0001", phys: "fractal/a/dualsense", driver: "playstation", probed: true)
        // Mid-probe: a driver link but no version attributes yet, so it is skipped (reading its
        // uevent on the real kernel would wait out the probe).
        let probing = try make("0003:054C:0CE6.0002", phys: "fractal/b/dualsense", driver: "playstation", probed: false)
        let found = HIDSysfs.device(phys: "fractal/a/dualsense", root: root + "/devices", settled: DualSensePad.probed)
        #expect(found?.hasSuffix("/0003:054C:0CE6.0001") == true)
        #expect(HIDSysfs.device(phys: "fractal/b/dualsense", root: root + "/devices", settled: DualSensePad.probed) == nil)
        #expect(HIDSysfs.device(phys: "fractal/c/dualsense", root: root + "/devices", settled: { _ in true }) == nil)
        #expect(HIDSysfs.driver(of: probing) == "playstation")
        #expect(!DualSensePad.probed(probing))
    }

    @Test func anUnboundDeviceHasNoDriver() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try make("0003:054C:0CE6.0003", phys: "p", driver: nil, probed: false)
        #expect(HIDSysfs.driver(of: path) == nil)
    }

    @Test func propertiesAreTheLastHexWord() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try make("0003:054C:0CE6.0004", phys: "p", driver: nil, probed: false)
        try "40\n".write(toFile: path + "/properties", atomically: true, encoding: .utf8)
        #expect(HIDSysfs.properties(of: path) == 0x40)
        try "1 4\n".write(toFile: path + "/properties", atomically: true, encoding: .utf8)
        #expect(HIDSysfs.properties(of: path) == 0x4)
        #expect(HIDSysfs.properties(of: root + "/none") == 0)
    }

    @Test func hidrawNodeAndItsNumbers() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try make("0003:054C:0CE6.0005", phys: "p", driver: nil, probed: false)
        #expect(try HIDSysfs.hidraw(of: path) == nil)
        try FileManager.default.createDirectory(atPath: path + "/hidraw/hidraw3", withIntermediateDirectories: true)
        try "242:3\n".write(toFile: path + "/hidraw/hidraw3/dev", atomically: true, encoding: .utf8)
        #expect(try HIDSysfs.hidraw(of: path) == HIDRawNode(name: "hidraw3", major: 242, minor: 3))
        try "nonsense\n".write(toFile: path + "/hidraw/hidraw3/dev", atomically: true, encoding: .utf8)
        let error = #expect(throws: UHIDError.self) { try HIDSysfs.hidraw(of: path) }
        #expect(error?.path.hasSuffix("/hidraw/hidraw3/dev") == true)
    }
}
