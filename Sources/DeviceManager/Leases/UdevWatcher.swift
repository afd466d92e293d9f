import CLibUdev
import Foundation
import FractalSystem

/// Waits until udevd has processed a set of devices, so a lease is handed out only when its
/// rules have run and its symlinks exist (the original slept a fixed 200 ms per device instead).
///
/// Subscribe before creating the devices, then wait: an event udevd sends after the devices were
/// made cannot be missed, and a device udevd already finished is seen through its database entry.
final class UdevWatcher {
    private let udev: OpaquePointer
    private let monitor: OpaquePointer

    /// Whether a udevd runs on this host (its control socket exists).
    static var isRunning: Bool { access("/run/udev/control", F_OK) == 0 }

    init() throws(LeaseError) {
        guard let udev = udev_new() else { throw .udev(operation: "udev_new", errno: errno) }
        guard let monitor = udev_monitor_new_from_netlink(udev, "udev") else {
            let code = errno
            udev_unref(udev)
            throw .udev(operation: "udev_monitor_new_from_netlink", errno: code)
        }
        self.udev = udev
        self.monitor = monitor
        // Room for many leases' events at once; the kernel caps it without privileges.
        _ = udev_monitor_set_receive_buffer_size(monitor, 8 << 20)
        _ = udev_monitor_filter_add_match_subsystem_devtype(monitor, "input", nil)
        let status = udev_monitor_enable_receiving(monitor)
        guard status >= 0 else {
            udev_monitor_unref(monitor)
            udev_unref(udev)
            throw .udev(operation: "udev_monitor_enable_receiving", errno: -status)
        }
    }

    deinit {
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }

    /// Returns when udevd has processed every syspath, or throws `.udevTimeout` naming what is
    /// left when udevd finished none of fractal-agent's devices for `timeout`.
    ///
    /// Slow is not stuck: in a burst, or with the host's CPUs busy, udevd may take longer than
    /// `timeout` for one lease while it works through others' uevents, so every device of ours it
    /// finishes (marked by our rules) moves the deadline on.
    func waitUntilInitialized(_ syspaths: [String], id: FractalID, timeout: Duration) throws(LeaseError) {
        var pending = Set(syspaths)
        for path in syspaths where isInitialized(path) { pending.remove(path) }
        var deadline = ProgressDeadline(timeout: timeout)
        let monitorFD = udev_monitor_get_fd(monitor)
        while !pending.isEmpty {
            let left = deadline.remaining()
            guard left > .zero else {
                throw .udevTimeout(id, pending: pending.sorted(), seconds: timeout.fractionalSeconds)
            }
            var pollFD = pollfd(fd: monitorFD, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(left.wholeNanoseconds / 1_000_000 + 1, 1000))
            let ready = poll(&pollFD, 1, milliseconds)
            if ready < 0 && errno != EINTR { throw .udev(operation: "poll", errno: errno) }
            if ready > 0 {
                while let device = udev_monitor_receive_device(monitor) {
                    if let path = udev_device_get_syspath(device), pending.remove(String(cString: path)) != nil {
                        deadline.progressed()
                    } else if let value = udev_device_get_property_value(device, UdevRules.hiddenProperty), String(cString: value) == "1" {
                        deadline.progressed()
                    }
                    udev_device_unref(device)
                }
            } else {
                // A slow path for an event lost to a full socket buffer: look at udev's database.
                for path in pending where isInitialized(path) {
                    pending.remove(path)
                    deadline.progressed()
                }
            }
        }
    }

    /// The syspaths whose record in udev's database lacks `property` set to `1`.
    func lacking(_ property: String, in syspaths: [String]) -> [String] {
        syspaths.filter { syspath in
            guard let device = udev_device_new_from_syspath(udev, syspath) else { return true }
            defer { udev_device_unref(device) }
            guard let value = udev_device_get_property_value(device, property) else { return true }
            return String(cString: value) != "1"
        }
    }

    private func isInitialized(_ syspath: String) -> Bool {
        guard let device = udev_device_new_from_syspath(udev, syspath) else { return false }
        defer { udev_device_unref(device) }
        return udev_device_get_is_initialized(device) == 1
    }
}
