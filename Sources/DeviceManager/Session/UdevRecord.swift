/// One device's udev database record (`/run/udev/data/c13:69`, `/run/udev/data/+input:input17`),
/// as udevd writes it: `E:` properties, `G:` tags, `Q:` current tags, `I:` when initialised, ...
///
/// A container gets records for exactly its own devices, made from the host's: libinput and SDL2
/// inside it treat a device with no record as uninitialised and skip it, so other sessions'
/// devices (visible in the container's read-only /sys) stay out of its sight.
public struct UdevRecord: Equatable, Sendable {
    /// `KEY=value` properties, in the host record's order.
    public var properties: [(key: String, value: String)]
    public var tags: [String]
    /// When udevd initialised the device (CLOCK_MONOTONIC µs); 1 when synthesised.
    public var initializedMicroseconds: UInt64

    public static func == (a: UdevRecord, b: UdevRecord) -> Bool {
        a.properties.map { "\($0.key)=\($0.value)" } == b.properties.map { "\($0.key)=\($0.value)" }
            && a.tags == b.tags && a.initializedMicroseconds == b.initializedMicroseconds
    }

    public init(properties: [(key: String, value: String)], tags: [String], initializedMicroseconds: UInt64) {
        self.properties = properties
        self.tags = tags
        self.initializedMicroseconds = initializedMicroseconds
    }

    /// Properties that hide the device from the host's seats: inside the container it is on its seat.
    static let hostOnlyProperties: Set<String> = ["ID_SEAT", "ID_FOR_SEAT", "FRACTAL_HOST_HIDDEN", "DEVLINKS", "ID_PATH", "ID_PATH_TAG"]

    /// The container's record from the host's: host-hiding properties dropped, `seat` and
    /// `uaccess` tagged again (the host's rules removed them), symlinks left out (they do not
    /// exist in the container's /dev).
    public init(containerViewOf hostRecord: String) {
        var properties: [(key: String, value: String)] = []
        var tags: [String] = []
        var initialized: UInt64 = 1
        for line in hostRecord.split(separator: "\n", omittingEmptySubsequences: true) {
            guard line.count >= 2, line[line.index(after: line.startIndex)] == ":" else { continue }
            let value = line.dropFirst(2)
            switch line.first {
            case "E":
                guard let equals = value.firstIndex(of: "=") else { continue }
                let key = String(value[..<equals])
                guard !Self.hostOnlyProperties.contains(key) else { continue }
                properties.append((key, String(value[value.index(after: equals)...])))
            case "G":
                tags.append(String(value))
            case "I":
                initialized = UInt64(value) ?? 1
            default:
                continue
            }
        }
        for tag in ["seat", "uaccess"] where !tags.contains(tag) { tags.append(tag) }
        self.init(properties: properties, tags: tags, initializedMicroseconds: initialized)
    }

    /// A record for a host without udevd: the properties udev's input_id builtin gives each role.
    public init(synthesisedFor role: DeviceRole, id: FractalID) {
        var properties: [(key: String, value: String)] = [("ID_INPUT", "1")]
        switch role {
        case .keyboard: properties += [("ID_INPUT_KEY", "1"), ("ID_INPUT_KEYBOARD", "1")]
        case .mouse, .tablet: properties += [("ID_INPUT_MOUSE", "1")]
        case .gamepad, .dualsense, .switchPro: properties += [("ID_INPUT_JOYSTICK", "1")]
        case .touchscreen: properties += [("ID_INPUT_TOUCHSCREEN", "1")]
        case .pen: properties += [("ID_INPUT_TABLET", "1")]
        case .trackpad: properties += [("ID_INPUT_TOUCHPAD", "1")]
        }
        properties += [("FRACTAL_ID", id.rawValue), ("FRACTAL_ROLE", role.rawValue)]
        self.init(properties: properties, tags: ["seat", "uaccess"], initializedMicroseconds: 1)
    }

    /// The database file's text, as udevd writes it (systemd's device_update_db).
    public var databaseText: String {
        var text = "I:\(initializedMicroseconds)\n"
        for (key, value) in properties { text += "E:\(key)=\(value)\n" }
        for tag in tags { text += "G:\(tag)\nQ:\(tag)\n" }
        text += "V:1\n"
        return text
    }

    /// The value of `key`, if the record has it.
    public subscript(key: String) -> String? {
        properties.first { $0.key == key }?.value
    }
}

/// What libudev needs to know of one sysfs device to announce it: the kernel's identity of it
/// plus its record's properties.
public struct UdevAnnouncement: Sendable {
    public enum Action: String, Sendable {
        case add
        case remove
    }

    /// `/devices/virtual/input/input17/event5`.
    public var devicePath: String
    /// `input`.
    public var subsystem: String
    /// `/dev/input/event5`, for nodes; nil for the parent `inputN`.
    public var deviceNode: String?
    public var major: UInt32?
    public var minor: UInt32?
    public var record: UdevRecord

    public init(devicePath: String, subsystem: String = "input", deviceNode: String? = nil, major: UInt32? = nil, minor: UInt32? = nil, record: UdevRecord) {
        self.devicePath = devicePath
        self.subsystem = subsystem
        self.deviceNode = deviceNode
        self.major = major
        self.minor = minor
        self.record = record
    }

    /// The NUL-separated `KEY=value` list udevd sends after its header: the kernel's keys first
    /// (libudev requires ACTION, DEVPATH, SUBSYSTEM and a non-zero SEQNUM), then the record's.
    public func properties(action: Action, sequenceNumber: UInt64) -> [UInt8] {
        var lines = ["ACTION=\(action.rawValue)", "DEVPATH=\(devicePath)", "SUBSYSTEM=\(subsystem)"]
        if let deviceNode { lines.append("DEVNAME=\(deviceNode)") }
        if let major, let minor { lines += ["MAJOR=\(major)", "MINOR=\(minor)"] }
        lines.append("SEQNUM=\(max(sequenceNumber, 1))")
        lines.append("USEC_INITIALIZED=\(record.initializedMicroseconds)")
        let kernelKeys: Set<String> = ["ACTION", "DEVPATH", "SUBSYSTEM", "DEVNAME", "MAJOR", "MINOR", "SEQNUM", "USEC_INITIALIZED"]
        for (key, value) in record.properties where !kernelKeys.contains(key) { lines.append("\(key)=\(value)") }
        if !record.tags.isEmpty {
            let tags = ":" + record.tags.joined(separator: ":") + ":"
            lines += ["TAGS=\(tags)", "CURRENT_TAGS=\(tags)"]
        }
        var bytes: [UInt8] = []
        for line in lines {
            bytes += Array(line.utf8)
            bytes.append(0)
        }
        return bytes
    }
}
