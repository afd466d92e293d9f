/// What the session server needs of a device: its profile, batch writes, the feedback its
/// programs ask for, and the descriptor the loop watches for feedback (and a GET_FDS hands a
/// copy of, where the policy allows). `UInputDevice` and `HIDPad` are the real ones; host
/// tests use a fake.
public protocol SessionDevice: AnyObject, Sendable {
    var profile: DeviceProfile { get }
    /// Writes the batch with one write(2).
    func write(_ events: [InputEvent]) throws(UInputError)
    /// Writes the batch, already in the kernel's layout, with one write(2).
    func write(_ batch: InputEventBatch) throws(UInputError)
    /// Serves what programs asked of the device since the last call, without blocking.
    func readFeedback() throws(UInputError) -> [DeviceFeedback]
    /// The descriptor to watch for feedback (and to pass on GET_FDS where the policy allows);
    /// nil once closed. It stays owned by the device.
    var fileDescriptor: Int32? { get }
}

/// A device a lease owns: what its session is served through, and what the lease's life needs.
public protocol LeaseDevice: SessionDevice {
    /// The lease's record of the device: name, phys, nodes.
    func leased(handle: DeviceHandle, plugged: Bool) -> LeasedDevice
    /// The sysfs paths (devices and nodes) udevd must have initialised before the lease is handed out.
    var udevSyspaths: [String] { get }
    /// Lets go of every key and button the device holds, as an unplug or a lost client must.
    func releaseEverythingHeld() throws(UInputError)
    /// Removes the device and its nodes. Safe to call more than once.
    func close()
}

extension UInputDevice: LeaseDevice {
    public func leased(handle: DeviceHandle, plugged: Bool) -> LeasedDevice {
        LeasedDevice(
            role: handle.role, handle: handle, name: profile.name, phys: phys, sysname: sysname, nodes: nodes.map(LeasedNode.init),
            plugged: plugged)
    }

    public var udevSyspaths: [String] { [syspath] + nodes.map { syspath + "/" + $0.name } }
}
