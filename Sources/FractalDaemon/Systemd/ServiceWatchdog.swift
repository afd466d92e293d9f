import DeviceManager
import FractalSystem
import Logging
import ServiceLifecycle
import SessionServer

/// Tells systemd how the daemon is (`STATUS=` with live counts) and that it is alive
/// (`WATCHDOG=1`), but only after the parts that could hang answer: the session sockets' loop
/// turns when woken, and the lease manager's state can be read. A wedged loop or lock stops the
/// pings, and systemd restarts the daemon, which keeps every device through the fd store.
/// Says `STOPPING=1` when the graceful shutdown starts.
struct ServiceWatchdog: Service {
    let service: ServiceManager
    let manager: LeaseManager
    let sessions: SessionServer
    let keeper: DescriptorKeeper
    let taskCount: @Sendable () -> Int
    let logger: Logger

    func run() async throws {
        // A service that returns early ends the whole group: without systemd, just wait for the end.
        guard service.isPresent else {
            try? await gracefulShutdown()
            return
        }
        // Three pings per timeout, as sd_watchdog_enabled(3) advises; status alone every 10 s.
        let interval = service.watchdogTimeout.map { $0 / 3 } ?? .seconds(10)
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let check: (healthy: Bool, status: String)? = try? await runBlocking { [manager, sessions, keeper, taskCount] in
                    let responsive = sessions.isResponsive(within: .seconds(5))
                    let counts = manager.counts
                    let status = "\(counts.leases) active lease(s) with \(counts.devices) device(s), \(taskCount()) task(s), "
                        + "\(sessions.statistics.connectionsOpen) session connection(s), \(keeper.count) descriptor(s) kept in the store"
                        + (counts.lost + counts.failed > 0 ? ", \(counts.lost) devices-lost, \(counts.failed) release-failed" : "")
                    return (responsive, status)
                }
                if let check {
                    if check.healthy {
                        service.notify("STATUS=\(check.status)" + (service.watchdogTimeout != nil ? "\nWATCHDOG=1" : ""))
                    } else {
                        logger.critical("the session sockets' loop did not turn within 5 s; no watchdog ping, so systemd restarts the daemon")
                    }
                }
                try? await Task.sleep(for: interval)
            }
        } onGracefulShutdown: {
            service.notify("STOPPING=1\nSTATUS=stopping")
        }
    }
}
