import CUHID
import FractalSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the kernel is told about a HID device made through uhid.
public struct UHIDDeviceDescription: Hashable, Sendable {
    /// At most 127 bytes.
    public var name: String
    /// At most 63 bytes: `fractal/<FractalID>/<role>`, as for uinput devices.
    public var phys: String
    /// At most 63 bytes. Some drivers replace it (hid-playstation writes the pad's MAC).
    public var uniq: String
    /// BUS_USB, BUS_BLUETOOTH, ...
    public var bus: UInt16
    public var vendor: UInt32
    public var product: UInt32
    public var version: UInt32
    public var country: UInt32
    /// The HID report descriptor, at most 4096 bytes.
    public var reportDescriptor: [UInt8]

    public init(
        name: String, phys: String, uniq: String, bus: UInt16, vendor: UInt32, product: UInt32,
        version: UInt32, country: UInt32 = 0, reportDescriptor: [UInt8]
    ) {
        self.name = name
        self.phys = phys
        self.uniq = uniq
        self.bus = bus
        self.vendor = vendor
        self.product = product
        self.version = version
        self.country = country
        self.reportDescriptor = reportDescriptor
    }

    /// The longest phys (and uniq) the kernel keeps, in bytes: its field holds 64 with the NUL.
    public static let maximumPhysLength = 63

    /// Rejects what the kernel would silently cut (its fixed-size fields) or cannot take.
    func validate(path: String) throws(UHIDError) {
        for (field, text, limit) in [("name", name, 127), ("phys", phys, Self.maximumPhysLength), ("uniq", uniq, Self.maximumPhysLength)] {
            guard text.utf8.count <= limit else {
                throw .invalid("\(field) is \(text.utf8.count) bytes, the kernel keeps \(limit)", path: path)
            }
            guard !text.utf8.contains(0) else { throw .invalid("\(field) holds a NUL byte", path: path) }
        }
        guard !reportDescriptor.isEmpty, reportDescriptor.count <= Int(CUHID_DESCRIPTOR_MAX) else {
            throw .invalid("report descriptor is \(reportDescriptor.count) bytes, 1 to \(CUHID_DESCRIPTOR_MAX) allowed", path: path)
        }
    }
}

/// The three kinds of HID report.
public enum HIDReportType: UInt8, Hashable, Sendable {
    case feature = 0
    case output = 1
    case input = 2
}

/// What the kernel asked of a uhid device (a driver, or a program through hidraw).
public enum UHIDRequest: Hashable, Sendable {
    /// A driver started the device (`flags`: UHID_DEV_NUMBERED_* bits).
    case start(flags: UInt64)
    /// The driver stopped it: it was unbound, or its probe failed.
    case stop
    /// The first reader opened the device; `close`: the last one closed it.
    case open
    case close
    /// A report sent to the device (report ID first when reports are numbered).
    case output(report: [UInt8], type: HIDReportType?)
    /// Answer with `UHIDDevice.replyToGetReport(id:...)`; the kernel waits up to 5 s.
    case getReport(id: UInt32, reportNumber: UInt8, type: HIDReportType?)
    /// Answer with `UHIDDevice.replyToSetReport(id:...)`.
    case setReport(id: UInt32, reportNumber: UInt8, type: HIDReportType?, data: [UInt8])
}

/// A HID device made through the kernel's uhid: while it lives, the kernel binds a HID driver
/// to it as to real hardware of its IDs, and that driver makes the device's nodes.
///
/// The instance owns the /dev/uhid descriptor. `close()` (or deinit) destroys the kernel device
/// and every node its driver made; nothing outlives the instance. Requests the kernel sends
/// (feature reports a driver asks for, output reports) are read with `readRequests()` and must
/// be answered: a driver asking for a report waits up to 5 s for the reply.
public final class UHIDDevice: Sendable {
    /// What the kernel was told.
    public let deviceDescription: UHIDDeviceDescription
    /// The uhid node the device was made through.
    public let uhidPath: String

    private let state: Mutex<Int32>

    /// Validates `description`, opens `uhidPath` and asks the kernel to create the device. The
    /// driver binds it later, from a kernel worker, asking for reports on the way.
    public init(_ description: UHIDDeviceDescription, uhidPath: String = "/dev/uhid") throws(UHIDError) {
        try description.validate(path: uhidPath)
        // Non-blocking so that readRequests() returns at once when nothing is pending.
        let fd = retryingInterrupts { open(uhidPath, O_RDWR | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { throw UHIDError(operation: "open", path: uhidPath, errno: Glibc.errno) }
        var succeeded = false
        // A failed UHID_CREATE2 leaves no device; closing the descriptor is all there is to undo.
        defer { if !succeeded { _ = Glibc.close(fd) } }

        let result = description.name.withCString { name in
            description.phys.withCString { phys in
                description.uniq.withCString { uniq in
                    description.reportDescriptor.withUnsafeBufferPointer { descriptor in
                        var create = cuhid_create_description(
                            name: name, phys: phys, uniq: uniq, bus: description.bus,
                            vendor: description.vendor, product: description.product,
                            version: description.version, country: description.country,
                            descriptor: descriptor.baseAddress, descriptor_size: descriptor.count
                        )
                        return cuhid_create(fd, &create)
                    }
                }
            }
        }
        guard result == 0 else { throw UHIDError(operation: "write(UHID_CREATE2)", path: uhidPath, errno: -result) }
        self.deviceDescription = description
        self.uhidPath = uhidPath
        self.state = Mutex(fd)
        succeeded = true
    }

    /// Takes over a device this daemon made before a restart, from a /dev/uhid descriptor that
    /// outlived the process (systemd's file-descriptor store): the device lives as long as the
    /// descriptor, so its driver, nodes and their readers carry on. uhid cannot say which device
    /// a descriptor holds: the caller checks the device it expects is there (its phys).
    ///
    /// On success the instance owns `fd`; on failure the caller still does, and should close it.
    public init(adopting fd: Int32, description: UHIDDeviceDescription, uhidPath: String = "/dev/uhid") throws(UHIDError) {
        var held = stat()
        var node = stat()
        guard fstat(fd, &held) == 0 else { throw UHIDError(operation: "fstat", path: "stored descriptor \(fd)", errno: Glibc.errno) }
        guard stat(uhidPath, &node) == 0 else { throw UHIDError(operation: "stat", path: uhidPath, errno: Glibc.errno) }
        guard held.st_mode & S_IFMT == S_IFCHR, held.st_rdev == node.st_rdev else {
            throw .invalid("stored descriptor \(fd) is not open on \(uhidPath)", path: uhidPath)
        }
        // readRequests() must return at once when nothing is pending.
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw UHIDError(operation: "fcntl(O_NONBLOCK)", path: uhidPath, errno: Glibc.errno)
        }
        deviceDescription = description
        self.uhidPath = uhidPath
        state = Mutex(fd)
    }

    deinit {
        close()
    }

    /// The descriptor, for poll(2) (readable when a request is pending); nil once closed.
    /// It stays owned by this instance: do not close it.
    public var fileDescriptor: Int32? {
        state.withLock { $0 >= 0 ? $0 : nil }
    }

    /// Sends one input report (report ID first when the descriptor numbers reports).
    public func sendInput(_ report: [UInt8]) throws(UHIDError) {
        try withDescriptor(operation: "write(UHID_INPUT2)") { fd in
            report.withUnsafeBufferPointer { cuhid_input(fd, $0.baseAddress, $0.count) }
        }
    }

    /// Answers a `getReport` request with `report` (its report ID first).
    public func replyToGetReport(id: UInt32, report: [UInt8]) throws(UHIDError) {
        try withDescriptor(operation: "write(UHID_GET_REPORT_REPLY)") { fd in
            report.withUnsafeBufferPointer { cuhid_get_report_reply(fd, id, 0, $0.baseAddress, $0.count) }
        }
    }

    /// Refuses a `getReport` request: the asker gets `errno` (EIO: no such report).
    public func replyToGetReport(id: UInt32, errno: Int32) throws(UHIDError) {
        try withDescriptor(operation: "write(UHID_GET_REPORT_REPLY)") { fd in
            cuhid_get_report_reply(fd, id, UInt16(clamping: errno), nil, 0)
        }
    }

    /// Answers a `setReport` request: 0 accepted, else the errno the asker gets.
    public func replyToSetReport(id: UInt32, errno: Int32) throws(UHIDError) {
        try withDescriptor(operation: "write(UHID_SET_REPORT_REPLY)") { fd in
            cuhid_set_report_reply(fd, id, UInt16(clamping: errno))
        }
    }

    /// Every request pending, in order, without blocking; empty when there is none.
    public func readRequests() throws(UHIDError) -> [UHIDRequest] {
        let path = uhidPath
        return try state.withLock { (fd: inout Int32) throws(UHIDError) -> [UHIDRequest] in
            guard fd >= 0 else { throw .closed(operation: "read", path: path) }
            var requests: [UHIDRequest] = []
            var data = [UInt8](repeating: 0, count: Int(CUHID_DATA_MAX))
            while true {
                var request = cuhid_request()
                let descriptor = fd
                let result = data.withUnsafeMutableBufferPointer {
                    cuhid_read_request(descriptor, &request, $0.baseAddress, $0.count)
                }
                guard result >= 0 else { throw UHIDError(operation: "read", path: path, errno: -result) }
                if result == 0 { return requests }
                if let item = Self.interpret(request, data: data) { requests.append(item) }
            }
        }
    }

    /// Waits up to `timeout` for a request to be pending; true when one is.
    public func waitForRequest(timeout: Duration) throws(UHIDError) -> Bool {
        guard let fd = fileDescriptor else { throw .closed(operation: "poll", path: uhidPath) }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let result = retryingInterrupts { poll(&entry, 1, milliseconds) }
        guard result >= 0 else { throw UHIDError(operation: "poll", path: uhidPath, errno: Glibc.errno) }
        return result > 0
    }

    /// Destroys the kernel device (its driver's nodes go with it) and closes the descriptor.
    /// Safe to call more than once.
    public func close() {
        state.withLock { fd in
            guard fd >= 0 else { return }
            // Closing alone would destroy the device too; destroying first says so plainly.
            _ = cuhid_destroy(fd)
            _ = Glibc.close(fd)
            fd = -1
        }
    }

    /// Gives the descriptor back without destroying the device: for an adoption that turned out
    /// not to be the caller's device, whose descriptor the caller still owns.
    func relinquish() {
        state.withLock { $0 = -1 }
    }

    // Runs a C call returning 0 or -errno on the open descriptor, under the lock, so a device
    // closed meanwhile is never written through a descriptor number since reused.
    private func withDescriptor(operation: String, _ body: (Int32) -> Int32) throws(UHIDError) {
        let path = uhidPath
        try state.withLock { (fd: inout Int32) throws(UHIDError) in
            guard fd >= 0 else { throw .closed(operation: operation, path: path) }
            let result = body(fd)
            guard result == 0 else { throw UHIDError(operation: operation, path: path, errno: -result) }
        }
    }

    private static func interpret(_ request: cuhid_request, data: [UInt8]) -> UHIDRequest? {
        let type = HIDReportType(rawValue: request.report_type)
        switch request.kind {
        case CUHID_REQUEST_START: return .start(flags: request.flags)
        case CUHID_REQUEST_STOP: return .stop
        case CUHID_REQUEST_OPEN: return .open
        case CUHID_REQUEST_CLOSE: return .close
        case CUHID_REQUEST_OUTPUT: return .output(report: Array(data[..<Int(request.size)]), type: type)
        case CUHID_REQUEST_GET_REPORT: return .getReport(id: request.id, reportNumber: request.report_number, type: type)
        case CUHID_REQUEST_SET_REPORT:
            return .setReport(id: request.id, reportNumber: request.report_number, type: type, data: Array(data[..<Int(request.size)]))
        default: return nil
        }
    }
}
