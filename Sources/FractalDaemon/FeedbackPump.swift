import DeviceManager
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Serves every live device's uinput fd: force-feedback uploads and erases (a game's EVIOCSFF
/// blocks until the device's owner answers), rumble plays and LED changes.
struct FeedbackPump: Service {
    let manager: LeaseManager
    let metrics: DaemonMetrics
    let logger: Logger
    /// Hears every feedback read (the session socket forwards it to the session's clients).
    var sink: @Sendable (FractalID, DeviceRole, DeviceFeedback) -> Void = { _, _, _ in }

    func run() async throws {
        let stop = StopFlag()
        let pump = self
        let thread = Thread { pump.loop(stop: stop) }
        thread.name = "fractal-feedback"
        thread.start()
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: .milliseconds(250))
            }
        } onGracefulShutdown: {}
        stop.flag.store(true, ordering: .relaxed)
    }

    private func loop(stop: StopFlag) {
        while !stop.flag.load(ordering: .relaxed) {
            let devices = manager.liveDevices()
            var fds = devices.compactMap { _, _, device in device.fileDescriptor.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
            // A short timeout picks up new and released devices without a wake-up channel.
            let ready = poll(&fds, nfds_t(fds.count), 100)
            if ready <= 0 {
                if fds.isEmpty { usleep(100_000) }
                continue
            }
            for (id, role, device) in devices {
                guard let fd = device.fileDescriptor, fds.contains(where: { $0.fd == fd && $0.revents != 0 }) else { continue }
                do {
                    for feedback in try device.readFeedback() {
                        metrics.feedbackReceived.increment()
                        sink(id, role, feedback)
                        logger.debug("lease \(id) \(role.rawValue): \(feedback)")
                    }
                } catch {
                    logger.debug("lease \(id) \(role.rawValue): reading feedback failed: \(error)")
                }
            }
        }
    }
}

/// Tells the pump's thread to end.
private final class StopFlag: Sendable {
    let flag = Atomic<Bool>(false)
}
