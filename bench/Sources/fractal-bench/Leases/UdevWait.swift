import CLibUdev
import Glibc

/// Waits until udevd has processed a set of devices, the way the daemon's own watcher does it
/// (DeviceManager's `UdevWatcher` is internal): subscribe to udev's monitor before creating
/// the devices, then wait for an event for each syspath, or find it initialised in udev's database.
final class UdevWait {
    private let udev: OpaquePointer
    private let monitor: OpaquePointer

    init() throws {
        guard let udev = udev_new() else { throw BenchFailure("udev_new failed") }
        guard let monitor = udev_monitor_new_from_netlink(udev, "udev") else {
            udev_unref(udev)
            throw BenchFailure("udev_monitor_new_from_netlink failed")
        }
        self.udev = udev
        self.monitor = monitor
        _ = udev_monitor_set_receive_buffer_size(monitor, 8 << 20)
        _ = udev_monitor_filter_add_match_subsystem_devtype(monitor, "input", nil)
        guard udev_monitor_enable_receiving(monitor) >= 0 else { throw BenchFailure("udev_monitor_enable_receiving failed") }
    }

    deinit {
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }

    /// Returns when udevd has processed every syspath; throws after `timeoutSeconds`.
    func waitUntilInitialized(_ syspaths: [String], timeoutSeconds: Int = 30) throws {
        var pending = Set(syspaths)
        for path in syspaths where isInitialized(path) { pending.remove(path) }
        let deadline = Monotonic.nanoseconds + Int64(timeoutSeconds) * 1_000_000_000
        let fd = udev_monitor_get_fd(monitor)
        while !pending.isEmpty {
            let left = deadline - Monotonic.nanoseconds
            guard left > 0 else { throw BenchFailure("udevd did not finish with \(pending.sorted()) in \(timeoutSeconds) s") }
            var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollFD, 1, Int32(min(left / 1_000_000 + 1, 1000)))
            if ready > 0 {
                while let device = udev_monitor_receive_device(monitor) {
                    if let path = udev_device_get_syspath(device) { pending.remove(String(cString: path)) }
                    udev_device_unref(device)
                }
            } else if ready == 0 {
                for path in pending where isInitialized(path) { pending.remove(path) }
            }
        }
    }

    private func isInitialized(_ syspath: String) -> Bool {
        guard let device = udev_device_new_from_syspath(udev, syspath) else { return false }
        defer { udev_device_unref(device) }
        return udev_device_get_is_initialized(device) == 1
    }
}
