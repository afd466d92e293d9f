import CUInput
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A lease's DualSense or Switch Pro controller: the uhid pad its kernel driver binds, driven by
/// the same evdev events a session writes to a uinput gamepad (`PadControls` turns them into
/// the pad's input reports), with what games ask of it (rumble, lights) read back as feedback.
///
/// Its descriptor is /dev/uhid's: the session loop watches it and calls `readFeedback()`, which
/// also answers the driver's and hidraw readers' requests; it is never handed to a session.
public final class HIDPad: LeaseDevice {
    private enum Backing: Sendable {
        case dualSense(DualSensePad)
        case switchPro(SwitchProPad)
    }

    public let role: DeviceRole
    /// What a session writes to it (`DeviceProfile.dualSense`, `.switchPro`).
    public let profile: DeviceProfile
    /// `fractal/<FractalID>/<role>`, the HID device's phys.
    public let phys: String
    /// The HID device in sysfs.
    public let syspath: String
    /// Its input devices (gamepad first), each with its nodes.
    public let inputs: [HIDInputDevice]
    public let hidraw: HIDRawNode?
    private let backing: Backing
    private let controls = Mutex(PadControls())

    /// Makes the pad for `role` (`.dualsense` or `.switchPro`) and waits until its driver bound
    /// it. Fails as `DualSensePad` and `SwitchProPad` do (the module named when it is missing),
    /// leaving nothing behind.
    public convenience init(role: DeviceRole, phys: String, uhidPath: String = "/dev/uhid", bindTimeout: Duration = .seconds(10)) throws(UHIDError) {
        switch role {
        case .dualsense:
            // Bluetooth: the transport SDL2's HIDAPI layer takes (touchpad, motion sensors, lightbar).
            let pad = try DualSensePad(phys: phys, transport: .bluetooth, uhidPath: uhidPath, bindTimeout: bindTimeout)
            self.init(.dualSense(pad), role: role, phys: phys)
        case .switchPro: self.init(.switchPro(try SwitchProPad(phys: phys, uhidPath: uhidPath, bindTimeout: bindTimeout)), role: role, phys: phys)
        default: throw Self.notAPad(role, uhidPath)
        }
    }

    /// Takes over the pad for `role` with `phys` from a /dev/uhid descriptor a previous process
    /// kept (systemd's file-descriptor store), as `DualSensePad.init(adopting:phys:uhidPath:)`
    /// does. On success the pad owns `fd`; on failure the caller still does.
    public convenience init(adopting fd: Int32, role: DeviceRole, phys: String, uhidPath: String = "/dev/uhid") throws(UHIDError) {
        switch role {
        case .dualsense: self.init(.dualSense(try DualSensePad(adopting: fd, phys: phys, uhidPath: uhidPath)), role: role, phys: phys)
        case .switchPro: self.init(.switchPro(try SwitchProPad(adopting: fd, phys: phys, uhidPath: uhidPath)), role: role, phys: phys)
        default: throw Self.notAPad(role, uhidPath)
        }
    }

    private init(_ backing: Backing, role: DeviceRole, phys: String) {
        self.backing = backing
        self.role = role
        self.phys = phys
        profile = .forRole(role)
        switch backing {
        case .dualSense(let pad): (syspath, inputs, hidraw) = (pad.syspath, pad.nodes.inputs, pad.nodes.hidraw)
        case .switchPro(let pad): (syspath, inputs, hidraw) = (pad.syspath, pad.nodes.inputs, pad.nodes.hidraw)
        }
    }

    private static func notAPad(_ role: DeviceRole, _ uhidPath: String) -> UHIDError {
        UHIDError(code: .invalidDescription, operation: "make a HID pad", path: uhidPath, detail: "\(role.rawValue) is not a HID pad")
    }

    deinit {
        close()
    }

    public var fileDescriptor: Int32? {
        switch backing {
        case .dualSense(let pad): pad.fileDescriptor
        case .switchPro(let pad): pad.fileDescriptor
        }
    }

    /// Output reports from games that were not the pad's (counted, then dropped).
    public var malformedOutputs: Int {
        switch backing {
        case .dualSense(let pad): pad.malformedOutputs
        case .switchPro(let pad): pad.malformedOutputs
        }
    }

    // MARK: Input

    /// One report per SYN_REPORT in the batch, in order: a press and its release in one batch are
    /// two reports, as they would be two frames on the pad.
    public func write(_ events: [InputEvent]) throws(UInputError) {
        let frames = controls.withLock { controls in
            events.compactMap { event in controls.apply(event) ? controls : nil }
        }
        for frame in frames { try send(frame) }
    }

    public func write(_ batch: InputEventBatch) throws(UInputError) {
        try write(batch.events)
    }

    public func releaseEverythingHeld() throws(UInputError) {
        controls.withLock { $0 = .neutral }
        try send(.neutral)
    }

    /// One input report of `state`.
    private func send(_ state: PadControls) throws(UInputError) {
        do {
            switch backing {
            case .dualSense(let pad): try pad.send(state.dualSense)
            case .switchPro(let pad): try pad.send(state.switchPro)
            }
        } catch {
            throw UInputError(operation: "write a \(role.rawValue) input report (\(error.operation))", path: error.path, errno: error.errno)
        }
    }

    // MARK: Feedback

    /// Rumble as FF_RUMBLE's magnitudes (0 and 0: stopped); the lightbar's colour and the
    /// player LEDs (bit 0 the leftmost) as a game or the driver sets them.
    public func readFeedback() throws(UInputError) -> [DeviceFeedback] {
        do {
            switch backing {
            case .dualSense(let pad):
                return try pad.serve().flatMap { output in
                    var feedback: [DeviceFeedback] = []
                    if let rumble = output.rumble { feedback.append(Self.rumble(strong: rumble.strong, weak: rumble.weak)) }
                    if let color = output.lightbar { feedback.append(.lightbar(red: color.red, green: color.green, blue: color.blue)) }
                    if let leds = output.playerLEDs { feedback.append(.playerLights(mask: leds.mask)) }
                    return feedback
                }
            case .switchPro(let pad):
                return try pad.serve().flatMap { output in
                    var feedback: [DeviceFeedback] = []
                    if let rumble = output.rumble { feedback.append(Self.rumble(strong: rumble.strong, weak: rumble.weak)) }
                    if let lights = output.playerLights { feedback.append(.playerLights(mask: lights.on)) }
                    return feedback
                }
            }
        } catch {
            throw UInputError(operation: "serve the \(role.rawValue)'s requests (\(error.operation))", path: error.path, errno: error.errno)
        }
    }

    /// A pad's 8-bit motors as FF_RUMBLE's 16-bit magnitudes: one effect, played until changed.
    private static func rumble(strong: UInt8, weak: UInt8) -> DeviceFeedback {
        if strong == 0 && weak == 0 { return .rumbleStopped(effectID: 0) }
        return .rumble(effectID: 0, strong: UInt16(strong) * 257, weak: UInt16(weak) * 257, durationMs: 0)
    }

    // MARK: Player

    /// Lights the pad's player LEDs for player `number` (1 for the first of the lease's game
    /// controllers), as the console does: the driver lit a number of its own, counted across the
    /// whole host, which would tell a player how many other sessions have pads. Through the
    /// drivers' LED class devices, which send the pad its output report.
    ///
    /// hid-nintendo sends each change as a command and waits for the pad's answer, so the writes
    /// run on a thread of their own while this one answers the pad, as the session loop does later.
    public func showPlayer(_ number: Int) throws(UHIDError) {
        let leds: [String]
        let mask: UInt8
        switch backing {
        case .dualSense(let pad):
            leds = pad.nodes.leds.filter { $0.contains(":white:player-") }.sorted()
            mask = DualSenseReports.playerLEDMask(number)
        case .switchPro(let pad):
            leds = pad.nodes.playerLEDs
            mask = SwitchProReports.playerLightsMask(number)
        }
        let outcome = Mutex<Result<Void, UHIDError>?>(nil)
        let writer = Thread {
            var result: Result<Void, UHIDError> = .success(())
            for (index, led) in leds.enumerated() {
                let path = led + "/brightness"
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    result = .failure(UHIDError(operation: "open", path: path, errno: errno))
                    break
                }
                let value: [UInt8] = mask & (1 << index) != 0 ? Array("1".utf8) : Array("0".utf8)
                let written = value.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                let error = errno
                _ = Glibc.close(fd)
                guard written == value.count else {
                    result = .failure(UHIDError(operation: "write", path: path, errno: error))
                    break
                }
            }
            outcome.withLock { $0 = result }
        }
        writer.start()
        while true {
            if let result = outcome.withLock({ $0 }) { return try result.get() }
            guard let fd = fileDescriptor else { return }
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 10) > 0 { _ = try? readFeedback() }
        }
    }

    // MARK: Lease

    public func leased(handle: DeviceHandle, plugged: Bool) -> LeasedDevice {
        let main = inputs.first { $0.part == nil }
        var nodes: [LeasedNode] = inputs.flatMap { input in
            input.nodes.map { node in
                LeasedNode(
                    kind: node.kind.rawValue, path: node.path, major: node.major, minor: node.minor, part: input.part,
                    inputDevice: input.sysname, devicePath: Self.devicePath(input.syspath + "/" + node.name))
            }
        }
        if let hidraw {
            nodes.append(LeasedNode(
                kind: DeviceNode.Kind.hidraw.rawValue, path: hidraw.path, major: hidraw.major, minor: hidraw.minor,
                devicePath: Self.devicePath(syspath + "/hidraw/" + hidraw.name)))
        }
        return LeasedDevice(
            role: handle.role, handle: handle, name: profile.name, phys: phys, sysname: main?.sysname ?? "", nodes: nodes, plugged: plugged)
    }

    public var udevSyspaths: [String] {
        inputs.flatMap { input in [input.syspath] + input.nodes.map { input.syspath + "/" + $0.name } }
            + (hidraw.map { [syspath + "/hidraw/" + $0.name] } ?? [])
    }

    /// `/sys/devices/...` as udev's DEVPATH: without `/sys`.
    private static func devicePath(_ syspath: String) -> String {
        syspath.hasPrefix("/sys/") ? String(syspath.dropFirst(4)) : syspath
    }

    /// Forgets the uhid descriptor without destroying the pad: an adoption that was refused
    /// leaves the descriptor to its caller.
    func releaseOwnership() {
        switch backing {
        case .dualSense(let pad): pad.relinquish()
        case .switchPro(let pad): pad.relinquish()
        }
    }

    public func close() {
        switch backing {
        case .dualSense(let pad): pad.close()
        case .switchPro(let pad): pad.close()
        }
    }
}
