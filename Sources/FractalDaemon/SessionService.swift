import FractalSystem
import ServiceLifecycle
import SessionServer

/// The session sockets' loop as a member of the daemon's service group: it runs from before the
/// group starts (adopted leases get their sockets first) until the graceful shutdown, when it
/// closes every connection, releasing held keys while the devices still exist.
struct SessionService: Service {
    let sessions: SessionServer
    /// Leaves each socket file in place for the next process (systemd keeps the listeners).
    let keepingSockets: Bool

    func run() async throws {
        // Returns on the graceful shutdown, or throws when the group is cancelled: stop either way.
        try? await gracefulShutdown()
        try await runBlocking { [sessions, keepingSockets] in sessions.stop(keepingSockets: keepingSockets) }
    }
}
