import CUInput
import FractalSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The nodes the kernel's hid-nintendo made for one Switch Pro controller.
public struct SwitchProNodes: Hashable, Sendable {
    /// The pad: buttons, sticks, d-pad, rumble (an event node and a js node).
    public var gamepad: [DeviceNode]
    /// Accelerometer and gyro (INPUT_PROP_ACCELEROMETER): an event node.
    public var imu: [DeviceNode]
    /// Raw reports, for Steam and SDL's HIDAPI; nil in a kernel without hidraw.
    public var hidraw: HIDRawNode?
    /// The LED class devices (sysfs paths): `<hid>:green:player-1` … `-4` and the home button's
    /// `<hid>:blue:player-5`.
    public var leds: [String]
    /// The input devices the nodes above belong to.
    public var inputs: [HIDInputDevice]

    /// Every input node, gamepad first.
    public var inputNodes: [DeviceNode] { gamepad + imu }

    /// The player LEDs' class devices, player 1 first.
    public var playerLEDs: [String] { leds.filter { $0.contains(":green:player-") }.sorted() }
}

/// A Switch Pro controller made through uhid and bound by the kernel's own hid-nintendo, which
/// makes its gamepad, IMU and hidraw nodes exactly as for the real pad over USB (so SDL, Steam
/// and games know it), its player and home LEDs, and its battery.
///
/// The instance owns the uhid device: `close()` (or deinit) removes every node. Input goes in
/// with `send(_:)`; what games ask of the pad (rumble, player lights, home light) comes out of
/// `serve()`, which also answers the driver's commands and must be called promptly when
/// `fileDescriptor` is readable: hid-nintendo waits 250 ms to 1 s for each answer.
public final class SwitchProPad: Sendable {
    /// The kernel module whose driver binds the pad.
    public static let module = "hid-nintendo"
    /// Its HID driver's name under /sys/bus/hid/drivers.
    public static let driver = "nintendo"

    /// `fractal/<FractalID>/<role>`, which the HID device and (hid-nintendo copies it) its input
    /// nodes carry.
    public let phys: String
    /// The pad's MAC, derived from `phys`, as hid-nintendo writes it into the input nodes' uniq
    /// ("AA:BB:…"); the HID device carries the same.
    public let uniq: String
    /// The HID device in sysfs, e.g. /sys/devices/virtual/misc/uhid/0003:057E:2009.0001.
    public let syspath: String
    public let nodes: SwitchProNodes

    private let device: UHIDDevice
    private let mac: [UInt8]

    private struct State {
        var timer: UInt8 = 0
        /// The state replies carry: the driver reads a reply it did not wait for as input.
        var input = SwitchProInput()
        var playerLights: UInt8 = 0
        var lastRumble: SwitchProRumble?
        /// Outputs the driver sent while binding (its player and home lights), for serve().
        var pending: [SwitchProOutput] = []
        var malformedOutputs = 0

        mutating func nextTimer() -> UInt8 {
            defer { timer &+= 1 }
            return timer
        }
    }

    private let state: Mutex<State>

    /// The `phys` of a lease's Switch Pro controller: `fractal/<id>/<role>`.
    public static func phys(id: FractalID, role: String = "switch-pro") -> String {
        "fractal/\(id.rawValue)/\(role)"
    }

    /// Makes the pad and waits until hid-nintendo has bound it, answering its commands on the
    /// way. Fails with `.driverMissing` naming the module when the kernel has no hid-nintendo
    /// loaded, `.notBound` when the driver refused the pad or did not finish within
    /// `bindTimeout`, and `.invalidDescription` when a bound pad has this `phys` already;
    /// nothing is left behind on failure.
    public convenience init(phys: String, uhidPath: String = "/dev/uhid", bindTimeout: Duration = .seconds(10)) throws(UHIDError) {
        // The same derivation as the DualSense's: one MAC per phys, locally administered.
        let mac = DualSenseReports.macAddress(for: phys)
        var state = State()
        let (device, syspath) = try UHIDDevice.bound(
            Self.description(phys: phys, mac: mac),
            driver: Self.driver, module: Self.module, uhidPath: uhidPath, timeout: bindTimeout, probed: Self.probed
        ) { request, device throws(UHIDError) in
            try Self.answer(request, device: device, mac: mac, state: &state)
        }
        let nodes: SwitchProNodes
        do { nodes = try Self.nodes(of: syspath) } catch {
            device.close()
            throw error
        }
        self.init(device: device, syspath: syspath, nodes: nodes, phys: phys, mac: mac, state: state)
    }

    /// Takes over the pad with `phys` from a /dev/uhid descriptor a previous process kept
    /// (systemd's file-descriptor store), as `DualSensePad.init(adopting:phys:uhidPath:)` does.
    public convenience init(adopting fd: Int32, phys: String, uhidPath: String = "/dev/uhid") throws(UHIDError) {
        let mac = DualSenseReports.macAddress(for: phys)
        let (device, syspath, nodes) = try UHIDDevice.adopted(
            fd, Self.description(phys: phys, mac: mac), driver: Self.driver, uhidPath: uhidPath, probed: Self.probed, found: Self.nodes)
        var state = State()
        // What the lights show now; the driver asks for it back (subcommand 0x31).
        state.playerLights = nodes.playerLEDs.enumerated().reduce(UInt8(0)) { mask, led in
            let lit = (HIDSysfs.read(led.element + "/brightness") ?? "0").trimmingCharacters(in: .whitespacesAndNewlines) != "0"
            return lit ? mask | UInt8(1 << led.offset) : mask
        }
        self.init(device: device, syspath: syspath, nodes: nodes, phys: phys, mac: mac, state: state)
    }

    private init(device: UHIDDevice, syspath: String, nodes: SwitchProNodes, phys: String, mac: [UInt8], state: State) {
        self.device = device
        self.syspath = syspath
        self.nodes = nodes
        self.phys = phys
        self.mac = mac
        uniq = SwitchProReports.macText(mac)
        self.state = Mutex(state)
    }

    /// What uhid is told of the pad with `phys`.
    private static func description(phys: String, mac: [UInt8]) -> UHIDDeviceDescription {
        UHIDDeviceDescription(
            name: SwitchProReports.name, phys: phys, uniq: SwitchProReports.macText(mac), bus: UInt16(0x03),  // BUS_USB
            vendor: SwitchProReports.vendorID, product: SwitchProReports.productID,
            version: SwitchProReports.version, reportDescriptor: SwitchProReports.reportDescriptor
        )
    }

    /// What hid-nintendo made for the bound pad at `syspath`.
    private static func nodes(of syspath: String) throws(UHIDError) -> SwitchProNodes {
        let inputs = try HIDSysfs.padInputs(of: syspath, requiring: [nil, .motion])
        func of(_ part: DevicePart?) -> [DeviceNode] { inputs.filter { $0.part == part }.flatMap(\.nodes) }
        return SwitchProNodes(
            gamepad: of(nil), imu: of(.motion), hidraw: try HIDSysfs.hidraw(of: syspath), leds: HIDSysfs.leds(of: syspath),
            inputs: inputs)
    }

    deinit {
        close()
    }

    /// The uhid descriptor, for poll(2): readable when `serve()` has work. Owned by the pad.
    public var fileDescriptor: Int32? { device.fileDescriptor }

    /// Output reports that could not be read as Switch Pro reports (counted, then dropped).
    public var malformedOutputs: Int { state.withLock { $0.malformedOutputs } }

    /// Sends one frame of the pad's state as a full input report; later replies carry it too.
    public func send(_ input: SwitchProInput) throws(UHIDError) {
        let report = state.withLock { state in
            state.input = input
            return input.report(timer: state.nextTimer())
        }
        try device.sendInput(report)
    }

    /// Answers what is pending without blocking (the driver's and hidraw writers' commands) and
    /// returns what games asked of the pad since the last call, in order. A rumble is returned
    /// only when it differs from the last one: every subcommand repeats it.
    public func serve() throws(UHIDError) -> [SwitchProOutput] {
        let requests = try device.readRequests()
        let device = device
        let mac = mac
        // Answered under the lock: a reply carries the timer and the input send() keeps, and
        // writing to uhid never waits on the driver.
        return try state.withLock { (state: inout State) throws(UHIDError) -> [SwitchProOutput] in
            for request in requests {
                try Self.answer(request, device: device, mac: mac, state: &state)
            }
            defer { state.pending = [] }
            return state.pending
        }
    }

    /// Whether hid-nintendo has finished probing the HID device at `path`: the driver link
    /// appears before probing starts; registering the gamepad's input device (after the IMU's,
    /// each with its event node) is the probe's last step, and input is read from then on.
    static func probed(_ path: String) -> Bool {
        guard HIDSysfs.driver(of: path) == driver else { return false }
        let inputs = HIDSysfs.inputDevices(of: path)
        return inputs.count >= 2 && inputs.allSatisfy { input in HIDSysfs.entries(input).contains { $0.hasPrefix("event") } }
    }

    /// Removes the pad and every node of it. Safe to call more than once.
    public func close() {
        device.close()
    }

    /// Forgets the uhid descriptor without destroying the pad (see `UHIDDevice.relinquish()`).
    func relinquish() {
        device.relinquish()
    }

    // One request: USB commands and subcommands answered as the pad does, outputs decoded into
    // `state.pending` (malformed ones counted), anything else acknowledged or refused.
    private static func answer(_ request: UHIDRequest, device: UHIDDevice, mac: [UInt8], state: inout State) throws(UHIDError) {
        switch request {
        case let .getReport(id, _, _):
            // The pad has no feature reports hid-nintendo or SDL read.
            try device.replyToGetReport(id: id, errno: EIO)
        case let .setReport(id, _, _, _):
            try device.replyToSetReport(id: id, errno: EIO)
        case let .output(report, _):
            let parsed: SwitchProOutputReport
            do { parsed = try SwitchProOutputReport.parse(report) } catch {
                state.malformedOutputs += 1
                return
            }
            var output = parsed.output
            switch parsed {
            case .usbCommand(let command):
                try device.sendInput(SwitchProReports.usbResponse(to: command, mac: mac))
            case let .subcommand(id, data, _):
                if id == SwitchProReports.Subcommand.setPlayerLights, let lights = output.playerLights {
                    state.playerLights = lights.flashing << 4 | lights.on
                }
                let (ack, reply) = SwitchProReports.subcommandReply(id: id, data: data, mac: mac, playerLights: state.playerLights)
                try device.sendInput(state.input.subcommandReply(timer: state.nextTimer(), ack: ack, id: id, data: reply))
            case .rumble:
                break
            }
            if output.rumble == state.lastRumble {
                output.rumble = nil
            } else {
                state.lastRumble = output.rumble
            }
            if !output.isEmpty { state.pending.append(output) }
        case .start, .stop, .open, .close:
            break
        }
    }
}
