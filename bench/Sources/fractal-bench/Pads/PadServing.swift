import Foundation
import Glibc
import Synchronization

/// Serves uhid pads on a thread of its own, as the daemon's loop does: a pad's `serve()` must
/// run when its descriptor is readable (the driver's report requests and outputs), or the driver
/// may wait on it. The thread sleeps in poll(2) until then, so it stays off the measured path:
/// nothing the benchmark sends asks the drivers for an answer.
final class PadServing: Sendable {
    /// One pad: its uhid descriptor and what answers it.
    struct Pad: Sendable {
        var name: String
        var fd: Int32
        var serve: @Sendable () throws -> Void
    }

    private let pads: [Pad]
    private let stopRead: Int32
    private let stopWrite: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let failed = Mutex<String?>(nil)
    private let calls = Atomic<Int>(0)

    init(_ pads: [Pad]) throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw BenchFailure("pipe: \(String(cString: strerror(errno)))") }
        self.pads = pads
        stopRead = ends[0]
        stopWrite = ends[1]
        let thread = Thread { [self] in
            loop()
            finished.signal()
        }
        thread.name = "pad-serving"
        thread.start()
    }

    /// Why serving stopped early, if it did (the pads' own error).
    var failure: String? { failed.withLock { $0 } }

    /// How many times a pad was served.
    var served: Int { calls.load(ordering: .relaxed) }

    /// Stops and waits for the thread; call it before closing the pads.
    func stop() {
        var byte: UInt8 = 1
        _ = write(stopWrite, &byte, 1)
        finished.wait()
        close(stopRead)
        close(stopWrite)
    }

    private func loop() {
        var fds = pads.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            + [pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                failed.withLock { $0 = "poll: \(String(cString: strerror(errno)))" }
                return
            }
            if fds[pads.count].revents != 0 { return }
            for (index, pad) in pads.enumerated() where fds[index].revents != 0 {
                do {
                    try pad.serve()
                    calls.add(1, ordering: .relaxed)
                } catch {
                    failed.withLock { $0 = "serving the \(pad.name): \(error)" }
                    return
                }
            }
        }
    }
}
