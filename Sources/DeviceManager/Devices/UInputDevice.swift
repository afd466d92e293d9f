import CUInput
import FractalSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A virtual input device made through the kernel's uinput: while it lives, the kernel shows it
/// to everyone as a real keyboard, mouse, gamepad, ... with its own /dev/input nodes.
///
/// The instance owns the uinput file descriptor. `close()` (or deinit) destroys the kernel
/// device, and its nodes disappear; nothing outlives the instance.
public final class UInputDevice: Sendable {
    /// What the device was created as.
    public let profile: DeviceProfile
    /// The `phys` given to the kernel, e.g. `fractal/<FractalID>/gamepad`.
    public let phys: String
    /// The uinput node the device was made through.
    public let uinputPath: String
    /// The kernel's name for the device under /sys/class/input, e.g. "input17".
    public let sysname: String
    /// The device's directory in sysfs, e.g. "/sys/devices/virtual/input/input17".
    public let syspath: String
    /// The nodes the kernel made for the device: always an `event` node, and for some
    /// devices a `joystick` or `mouse` node too.
    public let nodes: [DeviceNode]

    private struct State {
        /// -1 once closed.
        var fd: Int32
        /// Rumble effects programs have uploaded, by effect id, to play when asked.
        var rumbles: [Int16: Rumble] = [:]
    }

    private struct Rumble {
        var strong: UInt16
        var weak: UInt16
        var lengthMs: UInt16
    }

    private let state: Mutex<State>

    /// Creates the device: validates `profile` and `phys`, opens `uinputPath`, declares the
    /// capabilities, and asks the kernel to create it. Nothing is left behind on failure.
    ///
    /// - Parameters:
    ///   - phys: where the device "is plugged in"; make it with `DevicePhys.make(id:role:)`.
    ///   - uinputPath: the uinput node; another path is for tests.
    public convenience init(profile: DeviceProfile, phys: String, uinputPath: String = "/dev/uinput") throws(UInputError) {
        do {
            try profile.validate()
            try DevicePhys.validate(phys)
        } catch {
            throw UInputError(invalidProfile: error, path: uinputPath)
        }

        // Non-blocking so that readFeedback() returns at once when nothing is pending.
        let fd = retryingInterrupts { open(uinputPath, O_RDWR | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { throw UInputError(operation: "open", path: uinputPath, errno: Glibc.errno) }
        // Until init succeeds, undo what has been done: destroy the device, close the fd.
        var created = false
        var succeeded = false
        defer {
            if !succeeded {
                if created { _ = cuinput_destroy(fd) }
                _ = Glibc.close(fd)
            }
        }

        var failedOperation: UnsafePointer<CChar>? = nil
        let result = Self.withDescription(of: profile, phys: phys) { description in
            cuinput_create(fd, description, &failedOperation)
        }
        guard result == 0 else {
            throw UInputError(
                operation: failedOperation.map { String(cString: $0) } ?? "create",
                path: uinputPath, errno: -result
            )
        }
        created = true

        // The kernel adds the evdev/joydev/mousedev children while handling UI_DEV_CREATE,
        // so they are in sysfs by now.
        try self.init(owning: fd, profile: profile, phys: phys, sysname: try Self.sysname(fd: fd, uinputPath: uinputPath), uinputPath: uinputPath)
        succeeded = true
    }

    /// Takes `fd`, whose device is `sysname`, with the nodes sysfs lists for it; on failure the
    /// caller still owns `fd`.
    private init(owning fd: Int32, profile: DeviceProfile, phys: String, sysname: String, uinputPath: String) throws(UInputError) {
        let classPath = "/sys/class/input/\(sysname)"
        let nodes = try InputSysfs.nodes(of: classPath)
        // Without evdev loaded the device is invisible to everything that matters (libinput,
        // SDL, games); its node would only appear once something loads the module.
        guard nodes.contains(where: { $0.kind == .event }) else {
            throw UInputError(evdevMissingFor: classPath)
        }
        self.nodes = nodes
        self.syspath = InputSysfs.resolve(classPath)
        self.sysname = sysname
        self.profile = profile
        self.phys = phys
        self.uinputPath = uinputPath
        self.state = Mutex(State(fd: fd))
    }

    /// Takes over a device this daemon made before a restart, from a uinput descriptor that
    /// outlived the process (systemd's file-descriptor store): the device, its nodes and every
    /// open reader of them carry on. Checks that `fd` is a uinput descriptor whose device is
    /// still the one recorded (`sysname`, and its sysfs `phys` equal to `phys`), so a stray or
    /// stale descriptor is never adopted as a lease's device.
    ///
    /// On success the instance owns `fd`; on failure the caller still does, and should close it.
    public convenience init(adopting fd: Int32, profile: DeviceProfile, phys: String, sysname: String, uinputPath: String = "/dev/uinput") throws(UInputError) {
        var held = stat()
        var node = stat()
        guard fstat(fd, &held) == 0 else { throw UInputError(operation: "fstat", path: "stored descriptor \(fd)", errno: Glibc.errno) }
        guard stat(uinputPath, &node) == 0 else { throw UInputError(operation: "stat", path: uinputPath, errno: Glibc.errno) }
        guard held.st_mode & S_IFMT == S_IFCHR, held.st_rdev == node.st_rdev else {
            throw UInputError(mismatch: "stored descriptor \(fd) is not open on \(uinputPath)", path: uinputPath)
        }
        // ENODEV/EINVAL here: the device was destroyed while the descriptor was stored.
        let current = try Self.sysname(fd: fd, uinputPath: uinputPath)
        guard current == sysname else {
            throw UInputError(mismatch: "the stored device is \(current), the lease recorded \(sysname)", path: uinputPath)
        }
        let classPath = "/sys/class/input/\(sysname)"
        let currentPhys = (try? InputSysfs.attribute(classPath + "/phys")) ?? ""
        guard currentPhys == phys else {
            throw UInputError(mismatch: "\(sysname)'s phys is '\(currentPhys)', the lease recorded '\(phys)'", path: classPath)
        }
        try self.init(owning: fd, profile: profile, phys: phys, sysname: sysname, uinputPath: uinputPath)
    }

    deinit {
        close()
    }

    /// The uinput file descriptor, for poll(2) (it is readable when feedback is pending);
    /// nil once closed. It stays owned by this instance: do not close it.
    public var fileDescriptor: Int32? {
        state.withLock { $0.fd >= 0 ? $0.fd : nil }
    }

    /// The device's `event` node.
    public var eventNode: DeviceNode? {
        nodes.first { $0.kind == .event }
    }

    /// Sends `events` to the kernel in one write(2), so readers see the batch whole.
    /// Adds no SYN_REPORT: end each frame with `InputEvent.syn()`.
    public func write(_ events: [InputEvent]) throws(UInputError) {
        guard !events.isEmpty else { return }
        let batch = events.map { cuinput_event(type: $0.type, code: $0.code, value: $0.value) }
        let path = uinputPath
        try state.withLock { (state: inout State) throws(UInputError) in
            guard state.fd >= 0 else { throw .closed(operation: "write", path: path) }
            let fd = state.fd
            let result = batch.withUnsafeBufferPointer { cuinput_write_events(fd, $0.baseAddress, $0.count) }
            guard result == 0 else { throw UInputError(operation: "write", path: path, errno: -result) }
        }
    }

    /// Writes a batch already in the kernel's layout with one write(2); nothing when it is empty.
    /// The device's lock is held across the write so that a device closed meanwhile is never
    /// written through a descriptor number the process has since reused.
    public func write(_ batch: InputEventBatch) throws(UInputError) {
        guard batch.count > 0 else { return }
        let path = uinputPath
        try state.withLock { (state: inout State) throws(UInputError) in
            guard state.fd >= 0 else { throw .closed(operation: "write", path: path) }
            let result = batch.write(to: state.fd)
            guard result == 0 else { throw UInputError(operation: "write", path: path, errno: -result) }
        }
    }

    /// Releases every key and button the device holds down, in one write: the kernel passes on
    /// only releases of keys that are down, so readers see exactly those.
    public func releaseEverythingHeld() throws(UInputError) {
        let keys = profile.codes[UInt16(EV_KEY)] ?? []
        guard !keys.isEmpty else { return }
        try write(keys.map { InputEvent.key($0, pressed: false) } + [.syn()])
    }

    /// Serves what programs asked of the device since the last call, without blocking:
    /// force-feedback uploads and erases are acknowledged here (a program uploading an effect
    /// waits until this is called), and plays, stops and LED changes are returned in order.
    public func readFeedback() throws(UInputError) -> [DeviceFeedback] {
        let path = uinputPath
        return try state.withLock { (state: inout State) throws(UInputError) -> [DeviceFeedback] in
            guard state.fd >= 0 else { throw .closed(operation: "read", path: path) }
            var feedback: [DeviceFeedback] = []
            var buffer = [cuinput_feedback](repeating: cuinput_feedback(), count: 32)
            while true {
                let fd = state.fd
                var failedOperation: UnsafePointer<CChar>? = nil
                let count = buffer.withUnsafeMutableBufferPointer {
                    cuinput_read_feedback(fd, $0.baseAddress, $0.count, &failedOperation)
                }
                guard count >= 0 else {
                    throw UInputError(
                        operation: failedOperation.map { String(cString: $0) } ?? "read",
                        path: path, errno: Int32(-count)
                    )
                }
                for entry in buffer[..<count] {
                    if let item = Self.interpret(entry, rumbles: &state.rumbles) { feedback.append(item) }
                }
                if count < buffer.count { return feedback }
            }
        }
    }

    /// Destroys the kernel device and closes the descriptor. Safe to call more than once.
    public func close() {
        state.withLock { state in
            guard state.fd >= 0 else { return }
            // Closing alone would destroy the device too; destroying first says so plainly.
            _ = cuinput_destroy(state.fd)
            _ = Glibc.close(state.fd)
            state.fd = -1
            state.rumbles = [:]
        }
    }

    // Turns one C feedback entry into what callers see, keeping track of uploaded rumbles.
    private static func interpret(_ entry: cuinput_feedback, rumbles: inout [Int16: Rumble]) -> DeviceFeedback? {
        switch entry.kind {
        case CUINPUT_FEEDBACK_UPLOAD:
            if entry.effect_type == UInt16(FF_RUMBLE) {
                rumbles[entry.effect_id] = Rumble(
                    strong: entry.strong_magnitude, weak: entry.weak_magnitude, lengthMs: entry.length_ms
                )
            } else {
                // Only rumble is advertised; anything else cannot be played.
                rumbles[entry.effect_id] = nil
            }
            return nil
        case CUINPUT_FEEDBACK_ERASE:
            rumbles[entry.effect_id] = nil
            return nil
        case CUINPUT_FEEDBACK_PLAY:
            guard let rumble = rumbles[entry.effect_id] else { return nil }
            if entry.value == 0 { return .rumbleStopped(effectID: entry.effect_id) }
            return .rumble(
                effectID: entry.effect_id, strong: rumble.strong, weak: rumble.weak, durationMs: rumble.lengthMs
            )
        case CUINPUT_FEEDBACK_LED:
            return .led(code: entry.code, on: entry.value != 0)
        default:
            // Gain: no profile advertises FF_GAIN, so there is nothing to pass on.
            return nil
        }
    }

    static func sysname(fd: Int32, uinputPath: String) throws(UInputError) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let result = buffer.withUnsafeMutableBufferPointer { cuinput_sysname(fd, $0.baseAddress, $0.count) }
        guard result == 0 else { throw UInputError(operation: "ioctl(UI_GET_SYSNAME)", path: uinputPath, errno: -result) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // Lays the profile out as C structs for the duration of `body`.
    private static func withDescription<R>(
        of profile: DeviceProfile, phys: String, _ body: (UnsafePointer<cuinput_description>) -> R
    ) -> R {
        let sortedCodes = profile.codes.sorted { $0.key < $1.key }
        var eventTypes = sortedCodes.map(\.key)
        if !profile.axes.isEmpty { eventTypes.append(UInt16(EV_ABS)) }
        let capabilities = sortedCodes.flatMap { type, codes in
            type == UInt16(EV_REP) ? [] : codes.map { cuinput_capability(type: type, code: $0) }
        }
        let axes = profile.axes.map {
            cuinput_axis(
                code: $0.code, minimum: $0.minimum, maximum: $0.maximum,
                fuzz: $0.fuzz, flat: $0.flat, resolution: $0.resolution
            )
        }
        return profile.name.withCString { name in
            phys.withCString { phys in
                eventTypes.withUnsafeBufferPointer { eventTypes in
                    capabilities.withUnsafeBufferPointer { capabilities in
                        axes.withUnsafeBufferPointer { axes in
                            profile.properties.withUnsafeBufferPointer { properties in
                                var description = cuinput_description(
                                    name: name, phys: phys,
                                    bustype: profile.bus, vendor: profile.vendor,
                                    product: profile.product, version: profile.version,
                                    event_types: eventTypes.baseAddress, event_type_count: eventTypes.count,
                                    capabilities: capabilities.baseAddress, capability_count: capabilities.count,
                                    axes: axes.baseAddress, axis_count: axes.count,
                                    properties: properties.baseAddress, property_count: properties.count,
                                    ff_effects_max: profile.ffEffectsMax
                                )
                                return body(&description)
                            }
                        }
                    }
                }
            }
        }
    }
}
