import CLibEvdev
import CUInput
import DeviceManager
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Why a VM test could not do its job.
struct VMTestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Fails the calling test unless it runs inside the project's VM: these tests need a kernel
/// with uinput, which the host has not, and must never pass by doing nothing.
func requireVM() throws {
    let flag = getenv("FRACTAL_VM").map { String(cString: $0) }
    let hasUInput = access("/dev/uinput", F_OK) == 0
    guard flag == "1", hasUInput else {
        throw VMTestFailure(
            description: "VM test run outside the VM: run scripts/test, or scripts/vm/run -- <the test binary> (FRACTAL_VM=\(flag ?? "unset"), /dev/uinput \(hasUInput ? "present" : "missing"))"
        )
    }
}

/// A unique phys per device, so tests running in parallel never confuse their devices.
func testPhys(_ role: DeviceRole) -> String {
    DevicePhys.make(id: .random(), role: role)
}

/// The reading side of a device's event node, as a program using the device opens it.
final class EvdevNode {
    let path: String
    let fd: Int32
    let device: OpaquePointer

    init(_ path: String, flags: Int32 = O_RDONLY | O_NONBLOCK) throws {
        self.path = path
        fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw VMTestFailure(description: "open \(path): \(String(cString: strerror(errno)))") }
        var device: OpaquePointer?
        let result = libevdev_new_from_fd(fd, &device)
        guard result == 0, let device else {
            close(fd)
            throw VMTestFailure(description: "libevdev_new_from_fd \(path): \(String(cString: strerror(-result)))")
        }
        self.device = device
    }

    deinit {
        libevdev_free(device)
        close(fd)
    }

    var name: String { String(cString: libevdev_get_name(device)) }
    var phys: String? { libevdev_get_phys(device).map { String(cString: $0) } }

    func has(_ type: UInt16, _ code: UInt16) -> Bool {
        libevdev_has_event_code(device, UInt32(type), UInt32(code)) == 1
    }

    /// Every code of `type` the kernel says the device has.
    func codes(_ type: UInt16) -> Set<UInt16> {
        let maximum = libevdev_event_type_get_max(UInt32(type))
        guard maximum >= 0 else { return [] }
        return Set((0...UInt16(maximum)).filter { has(type, $0) })
    }

    var properties: Set<UInt16> {
        Set((0...UInt16(INPUT_PROP_MAX)).filter { libevdev_has_property(device, UInt32($0)) == 1 })
    }

    func axis(_ code: UInt16) -> AbsoluteAxis? {
        guard let info = libevdev_get_abs_info(device, UInt32(code)) else { return nil }
        return AbsoluteAxis(
            code: code, minimum: info.pointee.minimum, maximum: info.pointee.maximum,
            fuzz: info.pointee.fuzz, flat: info.pointee.flat, resolution: info.pointee.resolution
        )
    }

    /// Reads events straight from the node until `count` have arrived or `timeout` passes.
    func read(count: Int, timeout: Duration = .seconds(10)) throws -> [InputEvent] {
        var events: [InputEvent] = []
        let deadline = ContinuousClock.now + timeout
        while events.count < count {
            var event = input_event()
            let size = MemoryLayout<input_event>.size
            let got = Glibc.read(fd, &event, size)
            if got == size {
                events.append(InputEvent(type: event.type, code: event.code, value: event.value))
                continue
            }
            guard got < 0, errno == EAGAIN else {
                throw VMTestFailure(description: "read \(path): \(got < 0 ? String(cString: strerror(errno)) : "short read \(got)")")
            }
            guard ContinuousClock.now < deadline else {
                throw VMTestFailure(description: "read \(path): \(events.count) of \(count) events after \(timeout): \(events)")
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 50)
        }
        return events
    }

    /// Writes events to the node, as a program sends force-feedback plays or LED changes.
    func write(_ events: [InputEvent]) throws {
        let batch = events.map { cuinput_event(type: $0.type, code: $0.code, value: $0.value) }
        let result = batch.withUnsafeBufferPointer { cuinput_write_events(fd, $0.baseAddress, $0.count) }
        guard result == 0 else { throw VMTestFailure(description: "write \(path): \(String(cString: strerror(-result)))") }
    }
}

/// Serves a device's feedback on a thread of its own, as the daemon does, so that a test can
/// block in EVIOCSFF (which waits for the upload to be served) meanwhile.
final class FeedbackServer: Sendable {
    let device: UInputDevice
    private let stopping = Atomic<Bool>(false)
    private let received = Mutex<[DeviceFeedback]>([])
    private let failure = Mutex<String?>(nil)
    private let thread = Mutex<pthread_t?>(nil)

    init(serving device: UInputDevice) throws {
        self.device = device
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { context in
            let server = Unmanaged<FeedbackServer>.fromOpaque(context!).takeRetainedValue()
            server.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<FeedbackServer>.fromOpaque(context).release()
            throw VMTestFailure(description: "pthread_create: \(String(cString: strerror(result)))")
        }
        thread.withLock { $0 = handle }
    }

    /// Stops and joins the thread; returns what it failed with, if anything.
    @discardableResult
    func stop() -> String? {
        stopping.store(true, ordering: .releasing)
        if let handle = thread.withLock({ value -> pthread_t? in defer { value = nil }; return value }) {
            pthread_join(handle, nil)
        }
        return failure.withLock { $0 }
    }

    /// Waits until feedback matching `predicate` arrives; returns it, or nil after `timeout`.
    func wait(timeout: Duration = .seconds(10), for predicate: (DeviceFeedback) -> Bool) -> DeviceFeedback? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let match = received.withLock({ $0.first(where: predicate) }) { return match }
            if failure.withLock({ $0 }) != nil { return nil }
            usleep(10_000)
        }
        return nil
    }

    var all: [DeviceFeedback] { received.withLock { $0 } }

    private func run() {
        while !stopping.load(ordering: .acquiring) {
            guard let fd = device.fileDescriptor else { return }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 20)
            do {
                let feedback = try device.readFeedback()
                if !feedback.isEmpty { received.withLock { $0 += feedback } }
            } catch {
                failure.withLock { $0 = "\(error)" }
                return
            }
        }
    }
}
