import DeviceManager
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Why SDL2 reads our uhid pads through evdev only (no touchpad, sensors or LED from its HIDAPI
/// drivers): SDL2's hidapi (src/hidapi/linux/hid.c, hid_enumerate, every 2.x release) keeps a
/// hidraw device on BUS_USB only when sysfs shows it a usb_device parent, and a uhid device has
/// none; one on BUS_BLUETOOTH it keeps. The same descriptor on both buses, through the host's
/// libSDL2 as a game loads it. When this fails, the host's SDL has changed (hidapi 0.14, in
/// SDL3, keeps uhid USB devices) and docs/DEVICES.md's SDL paragraphs are out of date.
@Suite struct UHIDHIDAPIEnumerationVMTests {
    @Test func sdl2ListsAUHIDDeviceOnBluetoothAndDropsTheSameOnUSB() throws {
        try requireVM()
        // A one-byte gamepad of eight buttons; 1209 is pid.codes' open vendor, so no driver but
        // hid-generic binds it.
        let descriptor: [UInt8] = [
            0x05, 0x01, 0x09, 0x05, 0xA1, 0x01, 0x05, 0x09, 0x19, 0x01, 0x29, 0x08,
            0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0xC0,
        ]
        func make(bus: UInt16, product: UInt32) throws -> (UHIDDevice, String) {
            let phys = "hidapi-test/\(getpid())/\(bus)"
            let device = try UHIDDevice(UHIDDeviceDescription(
                name: "hidapi test \(bus)", phys: phys, uniq: "", bus: bus, vendor: 0x1209,
                product: product, version: 0x0100, reportDescriptor: descriptor))
            return (device, try hidrawPath(phys: phys))
        }
        let (usb, usbHidraw) = try make(bus: 0x03, product: 0x0001)  // BUS_USB
        defer { usb.close() }
        let (bluetooth, bluetoothHidraw) = try make(bus: 0x05, product: 0x0002)  // BUS_BLUETOOTH
        defer { bluetooth.close() }

        let (status, output) = try runTool(["/usr/bin/python3", "-c", Self.script], timeout: .seconds(60))
        print("SDL_hid_enumerate: \(output)")
        let listed = Set(output.split(separator: "\n").map(String.init))
        #expect(status == 0, "\(output)")
        #expect(listed.contains(bluetoothHidraw), "the Bluetooth device \(bluetoothHidraw) is not listed: \(output)")
        #expect(!listed.contains(usbHidraw), "the USB device \(usbHidraw) is listed: SDL's hidapi changed, \(output)")
    }

    /// The device's hidraw node, once udevd has recorded it (SDL enumerates through libudev).
    private func hidrawPath(phys: String) throws -> String {
        let root = "/sys/devices/virtual/misc/uhid"
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
                let device = root + "/" + entry
                guard let uevent = try? String(contentsOfFile: device + "/uevent", encoding: .utf8),
                      uevent.split(separator: "\n").contains(Substring("HID_PHYS=" + phys)),
                      let name = (try? FileManager.default.contentsOfDirectory(atPath: device + "/hidraw"))?.first,
                      let numbers = try? String(contentsOfFile: device + "/hidraw/" + name + "/dev", encoding: .utf8)
                else { continue }
                let record = "/run/udev/data/c" + numbers.trimmingCharacters(in: .whitespacesAndNewlines)
                if access(record, F_OK) == 0 { return "/dev/" + name }
            }
            usleep(50_000)
        }
        throw VMTestFailure(description: "no hidraw node recorded by udevd for \(phys)")
    }

    /// Prints the path of every device SDL_hid_enumerate(0, 0) lists, one a line.
    static let script = #"""
    import ctypes, sys
    class Info(ctypes.Structure): pass
    Info._fields_ = [("path", ctypes.c_char_p), ("vendor_id", ctypes.c_ushort), ("product_id", ctypes.c_ushort),
        ("serial_number", ctypes.c_wchar_p), ("release_number", ctypes.c_ushort),
        ("manufacturer_string", ctypes.c_wchar_p), ("product_string", ctypes.c_wchar_p),
        ("usage_page", ctypes.c_ushort), ("usage", ctypes.c_ushort), ("interface_number", ctypes.c_int),
        ("interface_class", ctypes.c_int), ("interface_subclass", ctypes.c_int),
        ("interface_protocol", ctypes.c_int), ("next", ctypes.POINTER(Info))]
    sdl = ctypes.CDLL("libSDL2-2.0.so.0")
    if sdl.SDL_hid_init() != 0:
        print("SDL_hid_init failed"); sys.exit(2)
    sdl.SDL_hid_enumerate.restype = ctypes.POINTER(Info)
    sdl.SDL_hid_free_enumeration.argtypes = [ctypes.POINTER(Info)]
    head = sdl.SDL_hid_enumerate(0, 0)
    entry = head
    while entry:
        print(entry.contents.path.decode())
        entry = entry.contents.next
    sdl.SDL_hid_free_enumeration(head)
    sdl.SDL_hid_exit()
    """#
}
