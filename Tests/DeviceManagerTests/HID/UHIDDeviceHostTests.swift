import Testing
@testable import DeviceManager
#if canImport(Glibc)
import Glibc
#endif

/// What a uhid device refuses before any system call, and how failures read.
@Suite struct UHIDDeviceHostTests {
    private func description(name: String = "pad", phys: String = "fractal/x/dualsense", uniq: String = "", descriptor: [UInt8] = [0xC0]) -> UHIDDeviceDescription {
        UHIDDeviceDescription(name: name, phys: phys, uniq: uniq, bus: 3, vendor: 1, product: 2, version: 3, reportDescriptor: descriptor)
    }

    @Test func fieldsTheKernelWouldCutAreRefused() {
        for bad in [
            description(name: String(repeating: "n", count: 128)),
            description(phys: String(repeating: "p", count: 64)),
            description(uniq: "a\u{0}b"),
            description(descriptor: []),
            description(descriptor: [UInt8](repeating: 0, count: 4097)),
        ] {
            let error = #expect(throws: UHIDError.self) { try UHIDDevice(bad, uhidPath: "/nonexistent/uhid") }
            #expect(error?.code == .invalidDescription)
        }
    }

    @Test func aMissingNodeSaysToLoadTheModule() {
        let error = #expect(throws: UHIDError.self) { try UHIDDevice(description(), uhidPath: "/nonexistent/uhid") }
        #expect(error?.code == .moduleNotLoaded)
        #expect(error?.description.contains("modprobe uhid") == true)
    }

    @Test func aMissingDriverIsNamed() {
        let error = UHIDError.driverMissing(module: "hid-playstation", driver: "playstation")
        #expect(error.code == .driverMissing)
        #expect(error.module == "hid-playstation")
        #expect(error.description.contains("modprobe hid-playstation"))
    }

    @Test func somethingElseThanUHIDFailsWithTheCallAndClosedIsClosed() throws {
        // /dev/null takes the create write but answers reads with end-of-file, never an event.
        let device = try UHIDDevice(description(), uhidPath: "/dev/null")
        let error = #expect(throws: UHIDError.self) { try device.readRequests() }
        #expect(error?.operation == "read" && error?.path == "/dev/null")
        device.close()
        device.close()
        let closed = #expect(throws: UHIDError.self) { try device.sendInput([1]) }
        #expect(closed?.code == .closed)
        #expect(device.fileDescriptor == nil)
    }
}
