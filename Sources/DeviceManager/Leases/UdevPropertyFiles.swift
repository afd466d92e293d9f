import Foundation
import FractalSystem

/// The files our udev rules import for each device (`IMPORT{file}`), so udevd names a device
/// by FractalID without spawning a program: udev cannot cut the ID out of the phys
/// `fractal/<id>/<role>`, but it can open a file named by the whole phys.
///
/// `<directory>/fractal/<id>/<handle>` holds `FRACTAL_ID=<id>` and `FRACTAL_DEVICE=<handle>`
/// (`gamepad-2`: the name of its udev link): its text follows from its name,
/// so a file left behind (a crash, a second daemon) is never wrong for a later device of that
/// name, only untidy; it is written before the device is made and removed when the device is.
struct UdevPropertyFiles: Sendable {
    /// Where the rules look (`@PROPERTIES@` in the rules file): fixed, as the rules are one file per host.
    static let standardDirectory = "/run/fractal-agent/udev"

    let directory: String

    init(directory: String = standardDirectory) {
        self.directory = directory
    }

    /// The file the rules import for the device `handle` of lease `id` (named by its phys).
    func path(id: FractalID, handle: DeviceHandle) -> String {
        directory + "/" + DevicePhys.make(id: id, handle: handle)
    }

    private func leaseDirectory(_ id: FractalID) -> String {
        (path(id: id, handle: DeviceHandle(.keyboard)) as NSString).deletingLastPathComponent
    }

    /// Writes the file for the device `handle` of lease `id`, making the directories above it.
    func write(id: FractalID, handle: DeviceHandle) throws(LeaseError) {
        let file = path(id: id, handle: handle)
        var made = ""
        for component in (file as NSString).deletingLastPathComponent.split(separator: "/") {
            made += "/" + component
            // Root's own directories under /run; udevd (root) reads them, nobody else needs to.
            guard mkdir(made, 0o755) == 0 || errno == EEXIST else { throw Self.failure("mkdir", made) }
        }
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.failure("open", file) }
        defer { close(fd) }
        let text = Array("FRACTAL_ID=\(id.rawValue)\nFRACTAL_DEVICE=\(handle)\n".utf8)
        let written = text.withUnsafeBytes { bytes in retryingInterrupts { Foundation.write(fd, bytes.baseAddress, bytes.count) } }
        guard written == text.count else { throw Self.failure("write", file) }
    }

    /// Removes the file of one device (unplugged for good).
    func remove(id: FractalID, handle: DeviceHandle) {
        unlink(path(id: id, handle: handle))
    }

    /// Removes every file of lease `id` (released, or never made).
    func remove(id: FractalID) {
        let lease = leaseDirectory(id)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: lease)) ?? [] where DeviceHandle(name) != nil {
            unlink(lease + "/" + name)
        }
        rmdir(lease)
    }

    private static func failure(_ operation: String, _ path: String) -> LeaseError {
        let error = SystemError(operation: operation, path: path, errno: errno)
        return .store(operation: "write the properties udevd reads for a device (\(operation))", path: path, message: error.reason)
    }
}
