import DeviceManager

/// A lease's devices made without the daemon: `UInputDevice` directly, then a wait until udevd has
/// finished with them. The baseline for the lease and container sections. The devices carry a
/// Fractal phys, so udevd runs the same rules for them as for a lease's.
final class BareDevices {
    let id: FractalID
    let devices: [UInputDevice]

    /// Creates `roles` and waits for udevd (when it runs).
    init(roles: [DeviceRole]) throws {
        let id = FractalID.random()
        let wait = Tool.udevRunning ? try UdevWait() : nil
        var devices: [UInputDevice] = []
        do {
            for role in roles {
                devices.append(try UInputDevice(profile: .forRole(role), phys: DevicePhys.make(id: id, role: role)))
            }
            try wait?.waitUntilInitialized(devices.flatMap { device in [device.syspath] + device.nodes.map { device.syspath + "/" + $0.name } })
        } catch {
            for device in devices { device.close() }
            throw error
        }
        self.id = id
        self.devices = devices
    }

    deinit {
        close()
    }

    var nodes: [DeviceNode] { devices.flatMap(\.nodes) }

    func close() {
        for device in devices { device.close() }
    }
}
