import DeviceManager
import Foundation
import SessionServer
import Synchronization

/// A device for host tests: records each batch written, and hands off the write end of a pipe,
/// so a test can check that a passed descriptor is that very file.
final class FakeDevice: SessionDevice {
    let profile: DeviceProfile
    private let batches = Mutex<[[InputEvent]]>([])
    private let pipe: (read: Int32, write: Int32)
    let failing = Atomic<Bool>(false)

    init(_ role: DeviceRole) {
        profile = .forRole(role)
        var fds: [Int32] = [-1, -1]
        precondition(Glibc.pipe(&fds) == 0)
        pipe = (fds[0], fds[1])
        _ = fcntl(pipe.read, F_SETFL, O_NONBLOCK)
    }

    deinit {
        close(pipe.read)
        close(pipe.write)
    }

    func write(_ events: [InputEvent]) throws(UInputError) {
        if failing.load(ordering: .relaxed) { throw UInputError(operation: "write", path: "/dev/uinput", errno: ENODEV) }
        batches.withLock { $0.append(events) }
    }

    var fileDescriptor: Int32? { pipe.write }

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
