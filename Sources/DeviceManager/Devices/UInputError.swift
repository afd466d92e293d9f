import FractalSystem
#if canImport(Glibc)
import Glibc
#endif

/// Why a uinput device could not be created, written to or read.
///
/// Carries what failed (`operation`, e.g. "open" or "ioctl(UI_DEV_CREATE)"), on which `path`,
/// and the `errno`; `description` says what to do about it.
public struct UInputError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure, for callers that react to it (e.g. an HTTP status).
    public enum Code: String, Hashable, Sendable {
        /// The profile or phys was refused before any system call: see `profileError`.
        case invalidProfile
        /// The uinput node does not exist (or has no driver): the module is not loaded.
        case moduleNotLoaded
        /// The uinput node exists but this process may not open it.
        case permissionDenied
        /// The kernel made the device but no `eventN` node for it: evdev is not loaded.
        case evdevNotLoaded
        /// The kernel made the device but no `eventN` node although evdev is loaded: its 1024
        /// input minors, shared by every event, mouse and js node, are all taken.
        case inputMinorsExhausted
        /// The device was closed.
        case closed
        /// A descriptor kept across a restart no longer holds the device its lease recorded.
        case mismatch
        /// Any other failed system call.
        case system
    }

    public let code: Code
    /// The system call that failed ("open", "ioctl(UI_DEV_CREATE)", "write", ...) on the uinput
    /// node (or sysfs file), with errno 0 when no call failed: the operation is "validate" for
    /// `invalidProfile` and the call attempted for `closed`.
    public let failure: SystemError
    /// Why the profile was refused, for `invalidProfile`.
    public let profileError: DeviceProfileError?

    public var operation: String { failure.operation }
    public var path: String { failure.path }
    /// The errno of the failed call; 0 when no call failed.
    public var errno: Int32 { failure.errno.rawValue }

    /// A failed system call, classified by errno.
    public init(operation: String, path: String, errno: Int32) {
        switch (operation, errno) {
        case ("open", ENOENT), ("open", ENODEV), ("open", ENXIO): code = .moduleNotLoaded
        case ("open", EACCES), ("open", EPERM): code = .permissionDenied
        default: code = .system
        }
        failure = SystemError(operation: operation, path: path, errno: errno)
        profileError = nil
    }

    /// A profile or phys refused before any system call.
    public init(invalidProfile error: DeviceProfileError, path: String) {
        code = .invalidProfile
        failure = SystemError(operation: "validate", path: path, errno: 0)
        profileError = error
    }

    /// A device the kernel made without an event node (`path` is its sysfs directory): evdev is
    /// missing, or (when it is loaded) the input minors ran out.
    init(evdevMissingFor path: String) {
        let evdevLoaded = access("/sys/module/evdev", F_OK) == 0
        self.init(code: evdevLoaded ? .inputMinorsExhausted : .evdevNotLoaded, operation: "find event node", path: path)
    }

    /// The kernel's limit of input character devices (INPUT_MAX_CHAR_DEVICES). Minors 256 and up
    /// are handed out to any handler, below that only each handler's few legacy ones, so about
    /// 830 nodes fit (the benchmark's scale run was refused at 831).
    public static let inputMinorLimit = 1024

    /// A stored descriptor that is not (or no longer) the device recorded: `detail` says how.
    init(mismatch detail: String, path: String) {
        self.init(code: .mismatch, operation: detail, path: path)
    }

    /// A call on a device that was already closed.
    static func closed(operation: String, path: String) -> UInputError {
        UInputError(code: .closed, operation: operation, path: path)
    }

    private init(code: Code, operation: String, path: String) {
        self.code = code
        failure = SystemError(operation: operation, path: path, errno: 0)
        profileError = nil
    }

    public var description: String {
        let called = failure.description
        switch code {
        case .invalidProfile:
            return "device profile refused: \(profileError.map(String.init(describing:)) ?? "invalid")"
        case .moduleNotLoaded:
            return "\(called): \(path) is missing or has no driver; load the uinput module: modprobe uinput"
        case .permissionDenied:
            return "\(called): this process may not open \(path); run as root, or grant a group access with a udev rule such as KERNEL==\"uinput\", GROUP=\"input\", MODE=\"0660\" and run as a member of that group"
        case .evdevNotLoaded:
            return "the kernel made no event node for \(path): load the evdev module: modprobe evdev"
        case .inputMinorsExhausted:
            return "the kernel made no event node for \(path): its input minors (\(Self.inputMinorLimit) in all, shared by every event, mouse and js node on the host; about 830 usable) are all taken; release leases, or lease fewer devices each"
        case .closed:
            return "\(operation) on a closed uinput device (\(path))"
        case .mismatch:
            return "not adopted: \(operation)"
        case .system:
            if errno == ENOTTY {
                return "\(called): \(path) does not answer uinput requests; is it really the uinput device?"
            }
            return called
        }
    }
}
