import CUInput
import FractalSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The nodes the kernel's hid-playstation made for one DualSense.
public struct DualSenseNodes: Hashable, Sendable {
    /// The pad: buttons, sticks, triggers, d-pad, rumble (an event node and a js node).
    public var gamepad: [DeviceNode]
    /// Gyro and accelerometer (INPUT_PROP_ACCELEROMETER): an event node.
    public var motionSensors: [DeviceNode]
    /// Two-finger touchpad with its click (INPUT_PROP_BUTTONPAD): an event node (and a mouse
    /// node where mousedev is loaded).
    public var touchpad: [DeviceNode]
    /// Raw reports, for Steam and SDL's HIDAPI; nil in a kernel without hidraw.
    public var hidraw: HIDRawNode?
    /// The LED class devices (sysfs paths): the lightbar `<hid>:rgb:indicator` and the five
    /// `<hid>:white:player-N`.
    public var leds: [String]
    /// The input devices the nodes above belong to, gamepad first.
    public var inputs: [HIDInputDevice]

    /// Every input node, gamepad first.
    public var inputNodes: [DeviceNode] { gamepad + motionSensors + touchpad }

    /// The lightbar's LED class device, e.g. `/sys/.../leds/0003:054C:0CE6.0001:rgb:indicator`.
    public var lightbar: String? { leds.first { $0.hasSuffix(":rgb:indicator") } }
}

/// A DualSense made through uhid and bound by the kernel's own hid-playstation, which makes its
/// gamepad, motion-sensor, touchpad and hidraw nodes exactly as for the real pad (so SDL, Steam
/// and games know it), its lightbar and player LEDs, and its battery.
///
/// The instance owns the uhid device: `close()` (or deinit) removes every node. Input goes in
/// with `send(_:)`; what games ask of the pad (rumble, lightbar, player LEDs, trigger effects)
/// comes out of `serve()`, which also answers the driver's and hidraw readers' report requests
/// and must be called when `fileDescriptor` is readable.
public final class DualSensePad: Sendable {
    /// The kernel module whose driver binds the pad.
    public static let module = "hid-playstation"
    /// Its HID driver's name under /sys/bus/hid/drivers.
    public static let driver = "playstation"

    /// `fractal/<FractalID>/<role>`, which the HID device and its uevents carry (HID_PHYS).
    public let phys: String
    /// The pad's MAC, derived from `phys`; hid-playstation makes it the `uniq` of the HID device
    /// and of every input node, e.g. "a6:0f:...".
    public let uniq: String
    /// The HID device in sysfs, e.g. /sys/devices/virtual/misc/uhid/0003:054C:0CE6.0001.
    public let syspath: String
    public let nodes: DualSenseNodes

    private let device: UHIDDevice
    private let mac: [UInt8]

    private struct State {
        var sequence: UInt8 = 0
        /// Outputs the driver sent while binding (its first LED settings), for the first serve().
        var pending: [DualSenseOutput] = []
        var malformedOutputs = 0
    }

    private let state: Mutex<State>

    /// The `phys` of a lease's DualSense: `fractal/<id>/<role>`.
    public static func phys(id: FractalID, role: String = "dualsense") -> String {
        "fractal/\(id.rawValue)/\(role)"
    }

    /// Makes the pad and waits until hid-playstation has bound it, answering the feature
    /// reports it asks for on the way. Fails with `.driverMissing` naming the module when the
    /// kernel has no hid-playstation loaded, and `.notBound` when the driver refused the pad or
    /// did not finish within `bindTimeout`, and `.invalidDescription` when a HID device with
    /// this `phys` exists already; nothing is left behind on failure.
    public init(phys: String, uhidPath: String = "/dev/uhid", bindTimeout: Duration = .seconds(10)) throws(UHIDError) {
        let mac = DualSenseReports.macAddress(for: phys)
        let uniq = DualSenseReports.macText(mac)
        var state = State()
        let (device, syspath) = try UHIDDevice.bound(
            UHIDDeviceDescription(
                name: DualSenseReports.name, phys: phys, uniq: uniq, bus: UInt16(0x03),  // BUS_USB
                vendor: DualSenseReports.vendorID, product: DualSenseReports.productID,
                version: DualSenseReports.version, reportDescriptor: DualSenseReports.reportDescriptor
            ),
            driver: Self.driver, module: Self.module, uhidPath: uhidPath, timeout: bindTimeout, probed: Self.probed
        ) { request, device throws(UHIDError) in
            try Self.answer(request, device: device, mac: mac, state: &state)
        }
        var succeeded = false
        defer { if !succeeded { device.close() } }

        // The driver registered its input devices, LEDs and hidraw node while probing.
        let inputs = try HIDSysfs.padInputs(of: syspath, requiring: [nil, .motion, .touchpad])
        func of(_ part: DevicePart?) -> [DeviceNode] { inputs.filter { $0.part == part }.flatMap(\.nodes) }
        nodes = DualSenseNodes(
            gamepad: of(nil), motionSensors: of(.motion), touchpad: of(.touchpad),
            hidraw: try HIDSysfs.hidraw(of: syspath), leds: HIDSysfs.leds(of: syspath), inputs: inputs
        )
        self.phys = phys
        self.uniq = uniq
        self.syspath = syspath
        self.device = device
        self.mac = mac
        self.state = Mutex(state)
        succeeded = true
    }

    deinit {
        close()
    }

    /// The uhid descriptor, for poll(2): readable when `serve()` has work. Owned by the pad.
    public var fileDescriptor: Int32? { device.fileDescriptor }

    /// Output reports that could not be read as DualSense reports (counted, then dropped).
    public var malformedOutputs: Int { state.withLock { $0.malformedOutputs } }

    /// Sends one frame of the pad's state.
    public func send(_ input: DualSenseInput) throws(UHIDError) {
        let sequence = state.withLock { state in
            defer { state.sequence &+= 1 }
            return state.sequence
        }
        try device.sendInput(input.report(sequence: sequence))
    }

    /// Answers what is pending without blocking (report requests from the driver or hidraw
    /// readers) and returns what games asked of the pad since the last call, in order.
    public func serve() throws(UHIDError) -> [DualSenseOutput] {
        let requests = try device.readRequests()
        // Answered outside the lock: send() may run meanwhile, from another thread.
        var local = state.withLock { state in
            defer { state.pending = [] }
            return State(pending: state.pending)
        }
        for request in requests {
            try Self.answer(request, device: device, mac: mac, state: &local)
        }
        if local.malformedOutputs > 0 {
            let malformed = local.malformedOutputs
            state.withLock { $0.malformedOutputs += malformed }
        }
        return local.pending
    }

    /// Whether hid-playstation has finished probing the HID device at `path`: the driver link
    /// appears before probing starts, the version attributes once the probe has made everything.
    static func probed(_ path: String) -> Bool {
        HIDSysfs.driver(of: path) == driver && HIDSysfs.exists(path + "/firmware_version")
    }

    /// Removes the pad and every node of it. Safe to call more than once.
    public func close() {
        device.close()
    }

    // One request: feature reports answered from `DualSenseReports`, outputs decoded into
    // `state.pending` (malformed ones counted), anything else acknowledged or refused.
    private static func answer(_ request: UHIDRequest, device: UHIDDevice, mac: [UInt8], state: inout State) throws(UHIDError) {
        switch request {
        case let .getReport(id, number, type):
            if type == .feature, let report = DualSenseReports.featureReport(number, mac: mac) {
                try device.replyToGetReport(id: id, report: report)
            } else {
                try device.replyToGetReport(id: id, errno: EIO)
            }
        case let .setReport(id, _, _, _):
            // The pad takes no feature writes we model; refusing says so to the writer.
            try device.replyToSetReport(id: id, errno: EIO)
        case let .output(report, _):
            do {
                let output = try DualSenseOutput.decode(report)
                if !output.isEmpty { state.pending.append(output) }
            } catch {
                state.malformedOutputs += 1
            }
        case .start, .stop, .open, .close:
            break
        }
    }
}
