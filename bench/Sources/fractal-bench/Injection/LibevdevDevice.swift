import CLibEvdev
import CUInput
import DeviceManager
import Glibc

/// A uinput device made the way inputtino makes them: a libevdev set up like the profile, then
/// `libevdev_uinput_create_from_device`; events go through `libevdev_uinput_write_event`.
final class LibevdevDevice {
    let evdev: OpaquePointer
    let uinput: OpaquePointer
    /// The device's /dev/input/eventN.
    let eventNode: String

    init(profile: DeviceProfile, phys: String) throws {
        guard let evdev = libevdev_new() else { throw BenchFailure("libevdev_new failed") }
        libevdev_set_name(evdev, profile.name)
        libevdev_set_phys(evdev, phys)
        libevdev_set_id_bustype(evdev, Int32(profile.bus))
        libevdev_set_id_vendor(evdev, Int32(profile.vendor))
        libevdev_set_id_product(evdev, Int32(profile.product))
        libevdev_set_id_version(evdev, Int32(profile.version))
        for (type, codes) in profile.codes where type != UInt16(EV_REP) && type != UInt16(EV_FF) {
            libevdev_enable_event_type(evdev, UInt32(type))
            for code in codes { libevdev_enable_event_code(evdev, UInt32(type), UInt32(code), nil) }
        }
        for axis in profile.axes {
            var info = input_absinfo(
                value: 0, minimum: axis.minimum, maximum: axis.maximum, fuzz: axis.fuzz, flat: axis.flat,
                resolution: axis.resolution)
            libevdev_enable_event_code(evdev, UInt32(EV_ABS), UInt32(axis.code), &info)
        }
        for property in profile.properties { libevdev_enable_property(evdev, UInt32(property)) }

        var uinput: OpaquePointer?
        let result = libevdev_uinput_create_from_device(evdev, LIBEVDEV_UINPUT_OPEN_MANAGED.rawValue, &uinput)
        guard result == 0, let uinput else {
            libevdev_free(evdev)
            throw BenchFailure("libevdev_uinput_create_from_device: \(String(cString: strerror(-result)))")
        }
        guard let node = libevdev_uinput_get_devnode(uinput) else {
            libevdev_uinput_destroy(uinput)
            libevdev_free(evdev)
            throw BenchFailure("libevdev_uinput_get_devnode found no event node")
        }
        self.evdev = evdev
        self.uinput = uinput
        self.eventNode = String(cString: node)
    }

    deinit {
        libevdev_uinput_destroy(uinput)
        libevdev_free(evdev)
    }
}
