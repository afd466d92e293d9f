extension UHIDDevice {
    /// Makes a HID device through uhid and waits until the kernel's `driver` has bound it and
    /// finished probing (`probed`), passing every request the driver makes meanwhile to `answer`
    /// (a pad's driver asks for reports while it probes, and waits for each answer).
    ///
    /// Fails with `.driverMissing` naming `module` when the kernel has no such driver, `.invalid`
    /// when a bound device has this phys already (the phys is how the device is found in sysfs),
    /// and `.notBound` when the driver stopped the device or did not finish within `timeout`;
    /// nothing is left behind on failure.
    static func bound(
        _ description: UHIDDeviceDescription, driver: String, module: String, uhidPath: String, timeout: Duration,
        probed: (String) -> Bool, answer: (UHIDRequest, UHIDDevice) throws(UHIDError) -> Void
    ) throws(UHIDError) -> (device: UHIDDevice, syspath: String) {
        guard HIDSysfs.exists("/sys/bus/hid/drivers/\(driver)") else { throw .driverMissing(module: module, driver: driver) }
        if let other = HIDSysfs.device(phys: description.phys, settled: probed) {
            throw .invalid("phys \(description.phys) is already the phys of \(other)", path: uhidPath)
        }
        let device = try UHIDDevice(description, uhidPath: uhidPath)
        do throws(UHIDError) {
            let deadline = ContinuousClock.now + timeout
            while true {
                var stopped = false
                for request in try device.readRequests() {
                    if case .stop = request { stopped = true }
                    try answer(request, device)
                }
                if let syspath = HIDSysfs.device(phys: description.phys, settled: probed) { return (device, syspath) }
                if stopped {
                    throw UHIDError(code: .notBound, operation: "bind", path: uhidPath, detail: "\(module) stopped the device while probing it")
                }
                guard ContinuousClock.now < deadline else {
                    throw UHIDError(code: .notBound, operation: "bind", path: uhidPath, detail: "\(module) did not bind it within \(timeout)")
                }
                _ = try device.waitForRequest(timeout: .milliseconds(20))
            }
        } catch {
            device.close()
            throw error
        }
    }

    /// Takes over a device a previous process made and its `driver` bound, from that process's
    /// kept /dev/uhid descriptor: finds the bound device with the description's phys and what
    /// the driver made for it (`found`), then owns `fd`. Fails with `.notBound` when no bound
    /// device has the phys; on any failure the caller still owns `fd`.
    static func adopted<Found>(
        _ fd: Int32, _ description: UHIDDeviceDescription, driver: String, uhidPath: String, probed: (String) -> Bool,
        found: (String) throws(UHIDError) -> Found
    ) throws(UHIDError) -> (device: UHIDDevice, syspath: String, found: Found) {
        guard let syspath = HIDSysfs.device(phys: description.phys, settled: probed) else {
            throw UHIDError(
                code: .notBound, operation: "find the kept device", path: HIDSysfs.devicesPath,
                detail: "no device bound by \(driver) has phys \(description.phys)")
        }
        let made = try found(syspath)
        return (try UHIDDevice(adopting: fd, description: description, uhidPath: uhidPath), syspath, made)
    }
}
