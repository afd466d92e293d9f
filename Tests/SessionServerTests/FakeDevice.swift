import DeviceManager
import Foundation
import SessionServer
import Synchronization

/// A device for host tests: records each batch written, and hands off one end of a socket pair,
/// so a test can check that a passed descriptor is that very file; the test's end makes the
/// device readable, as a uinput fd is when a program asks for feedback.
final class FakeDevice: SessionDevice {
    let profile: DeviceProfile
    private let batches = Mutex<[[InputEvent]]>([])
    private let pipe: (read: Int32, write: Int32)
    let failing = Atomic<Bool>(false)

    init(_ role: DeviceRole) {
        profile = .forRole(role)
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        // `read`: the test's end; `write`: the device's, handed off and watched by the loop.
        pipe = (fds[0], fds[1])
    }

    deinit {
        close(pipe.read)
        close(pipe.write)
    }

    func write(_ events: [InputEvent]) throws(UInputError) {
        if failing.load(ordering: .relaxed) { throw UInputError(operation: "write", path: "/dev/uinput", errno: ENODEV) }
        batches.withLock { $0.append(events) }
    }

    func write(_ batch: InputEventBatch) throws(UInputError) {
        try write(batch.events)
    }

    /// Feedback a test queued with `queueFeedback`, served once the loop sees the device readable.
    private let pendingFeedback = Mutex<[DeviceFeedback]>([])

    func readFeedback() throws(UInputError) -> [DeviceFeedback] {
        var drain = [UInt8](repeating: 0, count: 64)
        while read(pipe.write, &drain, drain.count) > 0 {}
        return pendingFeedback.withLock { pending in
            defer { pending = [] }
            return pending
        }
    }

    var fileDescriptor: Int32? { pipe.write }

    /// Makes the device readable with `feedback` pending, as a program's EVIOCSFF or LED write does.
    func queueFeedback(_ feedback: [DeviceFeedback]) {
        pendingFeedback.withLock { $0 += feedback }
        var byte: UInt8 = 1
        _ = Glibc.write(pipe.read, &byte, 1)
    }

    var written: [[InputEvent]] { batches.withLock { $0 } }

    /// What was written through a handed-off descriptor.
    func readPipe() -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let got = read(pipe.read, &buffer, buffer.count)
        return got > 0 ? Array(buffer[..<got]) : []
    }

    /// Waits until `predicate` holds for the batches written.
    func wait(timeout: Duration = .seconds(5), until predicate: ([[InputEvent]]) -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if batches.withLock({ predicate($0) }) { return true }
            usleep(5_000)
        }
        return false
    }
}
