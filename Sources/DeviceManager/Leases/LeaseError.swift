import FractalSystem

/// What a lease is busy with while a request changes it; others wait for it to finish.
public enum LeaseOperation: String, Sendable {
    case creating
    case changingDevices = "changing its devices"
    case releasing
}

/// Why a lease operation was refused or failed. Every case leaves nothing half-made behind.
public enum LeaseError: Error, CustomStringConvertible, Sendable {
    /// A lease with this ID already exists (live, lost or still being made).
    case duplicate(FractalID)
    case notFound(FractalID)
    /// The lease is being created or released by another request.
    case busy(FractalID, LeaseOperation)
    /// The configured limit of leases is reached (live ones and those being made or queued).
    case limitReached(limit: Int)
    case duplicateRole(DeviceRole)
    /// The lease asked for nothing: no devices and no directories.
    case empty
    case unknownRole(String, lease: FractalID)
    /// Creating one of the lease's devices failed; the ones before it were destroyed again.
    case device(DeviceHandle, any Error)
    /// Provisioning one of the lease's directories failed; the ones before it were released again.
    case directory(template: String, any Error)
    /// udevd finished none of fractal-agent's devices (this lease's or another's) for `seconds`
    /// while this lease waited: it is stuck, not merely slow.
    case udevTimeout(FractalID, pending: [String], seconds: Double)
    /// Too many lease creations already wait for their turn (`AdmissionQueue`).
    case queueFull(waiting: Int)
    case udev(operation: String, errno: Int32)
    /// The durable state could not be read or written.
    case store(operation: String, path: String, message: String)
    case write(DeviceHandle, any Error)
    /// A release left something behind; the lease stays listed as `release-failed` with the reason.
    case releaseIncomplete(FractalID, problems: [String])
    /// A directory the lease would make lies at, above or below one another lease holds.
    case pathTaken(String, owner: FractalID)
    /// udevd processed the devices, but fractal-agent's rules did not mark them (no
    /// `FRACTAL_HOST_HIDDEN`): the rules are missing or stale, and the host's seat would take them.
    case udevRulesMissing(FractalID, devices: [String])
    /// Hot-plug: the device is already plugged in, or not plugged in.
    case alreadyPlugged(DeviceHandle, lease: FractalID)
    case notPlugged(DeviceHandle, lease: FractalID)
    /// Hot-plug of a role the lease has no slot for, while containers hold fixed device grants.
    case notProvisioned(DeviceHandle, lease: FractalID)
    /// More game controllers than a lease may hold (`DeviceHandle.maximumGamepads`).
    case tooManyGamepads(Int, limit: Int)
    /// The ID is too long for a HID pad's phys, which the kernel cuts at 63 bytes (a uinput
    /// device's at 79): `limit` is the longest ID that pad takes.
    case idTooLongForPad(FractalID, DeviceHandle, limit: Int)
    /// The lease's CDI spec could not be written, rewritten or removed (`--cdi-dir`).
    case cdiSpec(FractalID, SystemError)
    /// With CDI specs written, a FractalID must also be a CDI device name: one that ends with a letter or digit.
    case cdiName(FractalID)

    public var description: String {
        switch self {
        case .duplicate(let id):
            return "a lease with FractalID \(id) already exists; release it first or choose another ID"
        case .notFound(let id):
            return "no lease with FractalID \(id)"
        case .busy(let id, let state):
            return "lease \(id) is busy (\(state.rawValue)) with another request; try again when that finishes"
        case .limitReached(let limit):
            return "the limit of \(limit) leases (live, being made or waiting their turn) is reached; release one, or raise --max-leases (the kernel has at most 1024 input device minors)"
        case .duplicateRole(let role):
            return "device role '\(role.rawValue)' is asked for twice; a lease has at most one device of each role but game controllers (gamepad, dualsense, switch-pro: up to \(DeviceHandle.maximumGamepads) in all)"
        case .empty:
            return "the lease asks for no devices and no directories"
        case .unknownRole(let role, let id):
            return "lease \(id) has no device with role '\(role)'"
        case .device(let handle, let error):
            return "creating the \(handle) failed: \(error)"
        case .directory(let template, let error):
            return "directory '\(template)': \(error)"
        case .udevTimeout(let id, let pending, let seconds):
            return "udevd finished none of fractal-agent's devices for \(seconds) s while lease \(id) waited (still pending: \(pending.joined(separator: ", "))); check `udevadm monitor` and the rules in /etc/udev/rules.d"
        case .queueFull(let waiting):
            return "\(waiting) lease requests already wait for their turn (the queue's depth limit); try again when fewer are being made"
        case .udev(let operation, let errno):
            return "udev \(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .store(let operation, let path, let message):
            return "state store \(path): \(operation) failed: \(message)"
        case .write(let handle, let error):
            return "writing events to the \(handle) failed: \(error)"
        case .releaseIncomplete(let id, let problems):
            return "lease \(id) could not be released completely: \(problems.joined(separator: "; ")); it stays listed as release-failed with what is left: fix that, then release it again (devicectl release \(id))"
        case .pathTaken(let path, let owner):
            return "directory '\(path)' is at, above or below a directory of lease \(owner): choose another template or ID, or release \(owner) first"
        case .udevRulesMissing(let id, let devices):
            return "lease \(id) refused: udevd did not apply fractal-agent's udev rules to its devices (no FRACTAL_HOST_HIDDEN on \(devices.joined(separator: ", "))), so the host's own seat could take them; the rules are missing or stale: install them with `devicectl udev-rules install` (as root; it reloads udevd), then try again"
        case .alreadyPlugged(let handle, let id):
            return "the \(handle) of lease \(id) is already plugged in"
        case .notPlugged(let handle, let id):
            return "the \(handle) of lease \(id) is not plugged in"
        case .notProvisioned(let handle, let id):
            return "lease \(id) has no \(handle) to plug in: its containers' device access was fixed when they were created, so a device plugged in later must be reserved then (dockerLabels fractal.hotplug=\(handle.role.rawValue), or the lease's hotplug list)"
        case .tooManyGamepads(let count, let limit):
            return "the lease would hold \(count) game controllers; a lease holds at most \(limit) (gamepad, dualsense and switch-pro together)"
        case .idTooLongForPad(let id, let handle, let limit):
            return "FractalID '\(id)' is too long for a \(handle) (its phys, fractal/<id>/\(handle), must fit the kernel's 63 bytes): use an ID of at most \(limit) characters"
        case .cdiSpec(let id, let error):
            return "lease \(id): its CDI spec: \(error) (the directory is --cdi-dir: it must exist and be writable by the daemon)"
        case .cdiName(let id):
            return "FractalID '\(id)' cannot name a CDI device (\(CDISpec.qualifiedName(of: id))): it must end with a letter or digit"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
