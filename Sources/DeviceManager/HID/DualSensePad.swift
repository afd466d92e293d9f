import CUInput
import Foundation
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
    public let transport: DualSenseTransport

    private let device: UHIDDevice
    private let mac: [UInt8]
    /// When the pad was made: its sensor clock counts from here.
    private let born = ContinuousClock.now

    private struct State {
        var sequence: UInt8 = 0
        /// The last state sent and when, for `DualSenseHeartbeat`.
        var last = DualSenseInput()
        var lastSent: ContinuousClock.Instant?
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
    public convenience init(
        phys: String, transport: DualSenseTransport = .usb, uhidPath: String = "/dev/uhid", bindTimeout: Duration = .seconds(10)
    ) throws(UHIDError) {
        let mac = DualSenseReports.macAddress(for: phys)
        var state = State()
        let (device, syspath) = try UHIDDevice.bound(
            Self.description(phys: phys, mac: mac, transport: transport),
            driver: Self.driver, module: Self.module, uhidPath: uhidPath, timeout: bindTimeout, probed: Self.probed
        ) { request, device throws(UHIDError) in
            try Self.answer(request, device: device, mac: mac, state: &state)
        }
        // The driver registered its input devices, LEDs and hidraw node while probing.
        let nodes: DualSenseNodes
        do { nodes = try Self.nodes(of: syspath) } catch {
            device.close()
            throw error
        }
        self.init(device: device, syspath: syspath, nodes: nodes, phys: phys, mac: mac, transport: transport, state: state)
    }

    /// Takes over the pad with `phys` from a /dev/uhid descriptor a previous process kept
    /// (systemd's file-descriptor store): the driver bound it then, and its nodes and their
    /// readers carry on. Fails with `.notBound` when no bound pad has `phys`. On success the
    /// pad owns `fd`; on failure the caller still does.
    public convenience init(adopting fd: Int32, phys: String, uhidPath: String = "/dev/uhid") throws(UHIDError) {
        let mac = DualSenseReports.macAddress(for: phys)
        // The bus is in the HID device's name (0005:054C:0CE6.0001 is Bluetooth).
        let (device, syspath, found) = try UHIDDevice.adopted(
            fd, Self.description(phys: phys, mac: mac, transport: .usb), driver: Self.driver, uhidPath: uhidPath, probed: Self.probed
        ) { syspath throws(UHIDError) in
            let bluetooth = syspath.split(separator: "/").last?.hasPrefix("0005:") == true
            return (try Self.nodes(of: syspath), bluetooth ? DualSenseTransport.bluetooth : .usb)
        }
        self.init(device: device, syspath: syspath, nodes: found.0, phys: phys, mac: mac, transport: found.1, state: State())
    }

    private init(
        device: UHIDDevice, syspath: String, nodes: DualSenseNodes, phys: String, mac: [UInt8], transport: DualSenseTransport, state: State
    ) {
        self.device = device
        self.syspath = syspath
        self.nodes = nodes
        self.phys = phys
        self.mac = mac
        self.transport = transport
        uniq = DualSenseReports.macText(mac)
        self.state = Mutex(state)
        if transport == .bluetooth { DualSenseHeartbeat.shared.keep(self) }
    }

    /// What uhid is told of the pad with `phys`.
    private static func description(phys: String, mac: [UInt8], transport: DualSenseTransport) -> UHIDDeviceDescription {
        UHIDDeviceDescription(
            name: DualSenseReports.name, phys: phys, uniq: DualSenseReports.macText(mac), bus: transport.bus,
            vendor: DualSenseReports.vendorID, product: DualSenseReports.productID,
            version: DualSenseReports.version, reportDescriptor: transport.reportDescriptor
        )
    }

    /// What hid-playstation made for the bound pad at `syspath`.
    private static func nodes(of syspath: String) throws(UHIDError) -> DualSenseNodes {
        let inputs = try HIDSysfs.padInputs(of: syspath, requiring: [nil, .motion, .touchpad])
        func of(_ part: DevicePart?) -> [DeviceNode] { inputs.filter { $0.part == part }.flatMap(\.nodes) }
        return DualSenseNodes(
            gamepad: of(nil), motionSensors: of(.motion), touchpad: of(.touchpad),
            hidraw: try HIDSysfs.hidraw(of: syspath), leds: HIDSysfs.leds(of: syspath), inputs: inputs
        )
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
        try device.sendInput(nextReport(input))
    }

    /// Sends the last state again when nothing was sent for `interval`, as a Bluetooth pad keeps
    /// reporting (`DualSenseHeartbeat`).
    func beat(after interval: Duration) throws(UHIDError) {
        let now = ContinuousClock.now
        let due = state.withLock { state in state.lastSent.map { now - $0 >= interval } ?? true ? state.last : nil }
        if let due { try device.sendInput(nextReport(due)) }
    }

    // The report for `input`, with the pad's sequence (and over Bluetooth its sensor clock, in
    // 1/3 µs: SDL holds the lightbar back while it reads below 10,200,000).
    private func nextReport(_ input: DualSenseInput) -> [UInt8] {
        var input = input
        if transport == .bluetooth {
            let elapsed = ContinuousClock.now - born
            let micro = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            input.sensorTimestamp = UInt32(truncatingIfNeeded: 10_200_001 + micro * 3)
        }
        let sequence = state.withLock { state in
            defer {
                state.sequence &+= 1
                state.last = input
                state.lastSent = .now
            }
            return state.sequence
        }
        let usb = input.report(sequence: sequence)
        return transport == .usb ? usb : DualSenseReports.bluetoothInputReport(wrapping: usb, sequence: sequence)
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
        DualSenseHeartbeat.shared.forget(self)
        device.close()
    }

    /// Forgets the uhid descriptor without destroying the pad (see `UHIDDevice.relinquish()`).
    func relinquish() {
        device.relinquish()
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

/// Keeps every Bluetooth DualSense reporting, as the real pad does (250 times a second): each
/// pad that sent nothing for `interval` sends its last state again. SDL's HIDAPI layer reads one
/// report within 16 ms of opening a pad, or takes it for a pad in a reduced mode, without its
/// touchpad and motion sensors. One thread for every pad; it holds none of them alive.
final class DualSenseHeartbeat: Sendable {
    static let shared = DualSenseHeartbeat()
    static let interval: Duration = .milliseconds(8)

    private final class Entry: @unchecked Sendable {
        weak var pad: DualSensePad?
        init(_ pad: DualSensePad) { self.pad = pad }
    }

    private let pads = Mutex<[ObjectIdentifier: Entry]>([:])
    private let started = Atomic<Bool>(false)

    func keep(_ pad: DualSensePad) {
        pads.withLock { $0[ObjectIdentifier(pad)] = Entry(pad) }
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            while true {
                let (seconds, attoseconds) = Self.interval.components
                Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
                let alive = pads.withLock { $0.values.compactMap(\.pad) }
                // A pad closed meanwhile refuses the write: nothing to do about it here.
                for pad in alive { try? pad.beat(after: Self.interval) }
            }
        }
        thread.name = "fractal.dualsense-heartbeat"
        thread.start()
    }

    func forget(_ pad: DualSensePad) {
        _ = pads.withLock { $0.removeValue(forKey: ObjectIdentifier(pad)) }
    }
}
