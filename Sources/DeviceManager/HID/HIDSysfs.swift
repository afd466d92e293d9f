import CUInput
#if canImport(Glibc)
import Glibc
#endif

/// A hidraw node, e.g. `/dev/hidraw0`: raw reports, what Steam and SDL's HIDAPI read.
public struct HIDRawNode: Hashable, Sendable, CustomStringConvertible {
    /// "hidraw0".
    public var name: String
    /// `/dev/<name>`.
    public var path: String
    /// hidraw's major is dynamic (given at boot), unlike input's 13.
    public var major: UInt32
    public var minor: UInt32

    public init(name: String, major: UInt32, minor: UInt32) {
        self.name = name
        self.path = "/dev/\(name)"
        self.major = major
        self.minor = minor
    }

    public var description: String { "\(path) (hidraw, \(major):\(minor))" }
}

/// One input device a HID driver registered for a pad: each sensor group is one of its own.
public struct HIDInputDevice: Hashable, Sendable {
    /// Which part of the pad it is; nil for the gamepad itself.
    public var part: DevicePart?
    /// `/sys/devices/virtual/misc/uhid/0003:054C:0CE6.0001/input/input21`.
    public var syspath: String
    public var nodes: [DeviceNode]

    /// `input21`.
    public var sysname: String { String(syspath.split(separator: "/").last ?? "") }
}

/// Reading /sys/bus/hid: where a uhid device is, which driver took it, what it made.
enum HIDSysfs {
    static let devicesPath = "/sys/bus/hid/devices"

    /// The sysfs directory of the HID device whose `HID_PHYS` is `phys`, among those `settled`
    /// accepts, or nil while there is none (uhid adds the device from a kernel worker, a moment
    /// after UHID_CREATE2, and its driver probes it after that).
    ///
    /// Reading `uevent` takes the device's lock, which a driver holds for its whole probe, and a
    /// uhid driver's probe waits for replies to its report requests: reading a device that is
    /// mid-probe from the thread that must answer it stalls both until the kernel gives up on
    /// the request (5 s) and fails the probe. So `settled` picks devices by what sysfs shows
    /// without that lock (driver links, attributes that exist only after a probe).
    static func device(phys: String, root: String = devicesPath, settled: (String) -> Bool) -> String? {
        for name in entries(root) {
            let path = resolve("\(root)/\(name)")
            guard settled(path), let uevent = read(path + "/uevent") else { continue }
            if uevent.split(separator: "\n").contains(where: { $0 == "HID_PHYS=\(phys)" }) {
                return path
            }
        }
        return nil
    }

    /// The name of the driver bound to the device at `path` ("playstation"), or nil.
    static func driver(of path: String) -> String? {
        let link = resolve(path + "/driver")
        guard link != path + "/driver" else { return nil }
        return link.split(separator: "/").last.map(String.init)
    }

    /// The input devices under a HID device: `/sys/.../input/inputN` paths.
    static func inputDevices(of path: String) -> [String] {
        entries(path + "/input").filter { $0.hasPrefix("input") }.sorted().map { "\(path)/input/\($0)" }
    }

    /// The input devices the driver registered under the HID device at `path`, each with its
    /// nodes and told apart by what the driver declares (INPUT_PROP_ACCELEROMETER: motion,
    /// INPUT_PROP_BUTTONPAD: touchpad), not by the names it gives them. Every part in
    /// `requiring` (nil: the gamepad) must have an event node: without evdev the pad is invisible
    /// to everything that matters.
    static func padInputs(of path: String, requiring parts: [DevicePart?]) throws(UHIDError) -> [HIDInputDevice] {
        var inputs: [HIDInputDevice] = []
        for input in inputDevices(of: path) {
            let nodes: [DeviceNode]
            do { nodes = try InputSysfs.nodes(of: input) } catch {
                throw UHIDError(operation: error.operation, path: error.path, errno: error.errno)
            }
            let properties = self.properties(of: input)
            let part: DevicePart? =
                properties & (1 << UInt64(INPUT_PROP_ACCELEROMETER)) != 0 ? .motion
                : properties & (1 << UInt64(INPUT_PROP_BUTTONPAD)) != 0 ? .touchpad : nil
            inputs.append(HIDInputDevice(part: part, syspath: input, nodes: nodes))
        }
        for part in parts {
            guard inputs.contains(where: { $0.part == part && $0.nodes.contains { $0.kind == .event } }) else {
                throw UHIDError(
                    code: .notBound, operation: "find event node", path: path,
                    detail: "no event node for the \(part?.rawValue ?? "gamepad"); is evdev loaded?")
            }
        }
        return inputs
    }

    /// The device's hidraw node, or nil when it has none (no hidraw in the kernel, or not yet).
    static func hidraw(of path: String) throws(UHIDError) -> HIDRawNode? {
        guard let name = entries(path + "/hidraw").first(where: { $0.hasPrefix("hidraw") }) else { return nil }
        let devPath = "\(path)/hidraw/\(name)/dev"
        let (major, minor) = try numbers(devPath)
        return HIDRawNode(name: name, major: major, minor: minor)
    }

    /// The LED class devices the driver made for the device: `/sys/.../leds/<name>` paths.
    static func leds(of path: String) -> [String] {
        entries(path + "/leds").sorted().map { "\(path)/leds/\($0)" }
    }

    /// An input device's INPUT_PROP_* bits, from its `properties` attribute (hex words).
    static func properties(of inputPath: String) -> UInt64 {
        guard let text = read(inputPath + "/properties") else { return 0 }
        // Words are printed most significant first; the bits that matter are in the last one.
        let last = text.split(separator: " ").last.map(String.init) ?? "0"
        return UInt64(last.trimmingCharacters(), radix: 16) ?? 0
    }

    /// A `dev` file's "major:minor".
    static func numbers(_ devPath: String) throws(UHIDError) -> (UInt32, UInt32) {
        guard let text = read(devPath) else { throw UHIDError(operation: "read", path: devPath, errno: Glibc.errno) }
        let parts = text.trimmingCharacters().split(separator: ":")
        guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else {
            throw UHIDError(operation: "parse major:minor '\(text)'", path: devPath, errno: EINVAL)
        }
        return (major, minor)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func resolve(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func entries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A small sysfs file (at most 4 KiB), or nil when it cannot be read (errno says why).
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
