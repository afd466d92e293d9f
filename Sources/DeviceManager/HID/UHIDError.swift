import FractalSystem
#if canImport(Glibc)
import Glibc
#endif

/// Why a uhid device could not be made, bound by its kernel driver, written to or read.
///
/// Carries the failed call (`failure`: operation, path, errno) and a `code` a caller can act on
/// (e.g. fail a lease naming the missing module); `description` says what to do about it.
public struct UHIDError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// /dev/uhid does not exist or has no driver: the uhid module is not loaded.
        case moduleNotLoaded
        /// /dev/uhid exists but this process may not open it.
        case permissionDenied
        /// The kernel driver the device needs is not loaded: `module` names it.
        case driverMissing
        /// The device's fields were refused before any system call (too long, NUL byte, ...).
        case invalidDescription
        /// The kernel made the HID device but its driver did not take it (it refused it, or did
        /// not finish within the deadline): the kernel log says why.
        case notBound
        /// The device was closed.
        case closed
        /// Any other failed system call.
        case system
    }

    public let code: Code
    /// The call that failed; errno 0 when the failure was found without one.
    public let failure: SystemError
    /// The kernel module missing, for `driverMissing` ("hid-playstation").
    public let module: String?

    public var operation: String { failure.operation }
    public var path: String { failure.path }
    public var errno: Int32 { failure.errno.rawValue }

    /// A failed system call, classified by errno.
    public init(operation: String, path: String, errno: Int32) {
        switch (operation, errno) {
        case ("open", ENOENT), ("open", ENODEV), ("open", ENXIO): code = .moduleNotLoaded
        case ("open", EACCES), ("open", EPERM): code = .permissionDenied
        default: code = .system
        }
        failure = SystemError(operation: operation, path: path, errno: errno)
        module = nil
    }

    init(code: Code, operation: String, path: String, detail: String? = nil, module: String? = nil) {
        self.code = code
        failure = SystemError(operation: operation, path: path, errno: 0, detail: detail)
        self.module = module
    }

    /// A field refused before any system call: `detail` names it and why.
    static func invalid(_ detail: String, path: String) -> UHIDError {
        UHIDError(code: .invalidDescription, operation: "validate", path: path, detail: detail)
    }

    /// The driver `module` (whose HID driver is `driver` under /sys/bus/hid/drivers) is absent.
    static func driverMissing(module: String, driver: String) -> UHIDError {
        UHIDError(code: .driverMissing, operation: "find driver", path: "/sys/bus/hid/drivers/\(driver)", module: module)
    }

    /// A call on a device that was already closed.
    static func closed(operation: String, path: String) -> UHIDError {
        UHIDError(code: .closed, operation: operation, path: path)
    }

    public var description: String {
        let called = failure.description
        switch code {
        case .moduleNotLoaded:
            return "\(called): \(path) is missing or has no driver; load the uhid module: modprobe uhid"
        case .permissionDenied:
            return "\(called): this process may not open \(path); run as root"
        case .driverMissing:
            let name = module ?? "the driver's module"
            return "\(called): the kernel has no \(name) driver loaded (no \(path)); load it: modprobe \(name)"
        case .invalidDescription:
            return "uhid device refused: \(called)"
        case .notBound:
            return "\(called): the kernel driver did not take the device; see the kernel log (dmesg)"
        case .closed:
            return "\(operation) on a closed uhid device (\(path))"
        case .system:
            return called
        }
    }
}
