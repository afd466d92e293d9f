import DeviceManager
import Foundation

/// A lease's devices made without the daemon: `UInputDevice` directly, then a wait until udevd has
/// finished with them. The baseline for the lease and container sections. The devices carry a
/// Fractal phys and the property file the rules import for it, so udevd runs the same rules for
/// them as for a lease's, links included.
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
                try Self.writePropertyFile(id: id, role: role)
                devices.append(try UInputDevice(profile: .forRole(role), phys: DevicePhys.make(id: id, role: role)))
            }
            try wait?.waitUntilInitialized(devices.flatMap { device in [device.syspath] + device.nodes.map { device.syspath + "/" + $0.name } })
        } catch {
            for device in devices { device.close() }
            Self.removePropertyFiles(id: id)
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
        Self.removePropertyFiles(id: id)
    }

    /// Where the rules import a device's FRACTAL_ID from: DeviceManager's UdevPropertyFiles
    /// (internal there) writes `<directory>/<phys>` holding `FRACTAL_ID=<id>` before the daemon
    /// makes a device; this does the same for a bare one.
    static let propertyDirectory = "/run/fractal-agent/udev"

    private static func writePropertyFile(id: FractalID, role: DeviceRole) throws {
        let file = URL(filePath: propertyDirectory + "/" + DevicePhys.make(id: id, role: role))
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("FRACTAL_ID=\(id.rawValue)\n".utf8).write(to: file)
        } catch {
            throw BenchFailure("writing \(file.path) for udevd: \(error)")
        }
    }

    private static func removePropertyFiles(id: FractalID) {
        let directory = URL(filePath: propertyDirectory + "/" + DevicePhys.make(id: id, role: .keyboard)).deletingLastPathComponent()
        try? FileManager.default.removeItem(at: directory)
    }
}
