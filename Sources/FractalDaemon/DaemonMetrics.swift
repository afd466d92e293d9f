import DeviceManager
import FractalSessionProtocol
import FractalSystem
import Prometheus
import SessionServer
import Synchronization

/// The daemon's Prometheus metrics, served at `GET /metrics`.
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let leasesCreated: Counter
    let leasesReleased: Counter
    let leaseCreateSeconds: DurationHistogram
    let eventsInjected: Counter
    let feedbackReceived: Counter
    /// Devices plugged into and unplugged from running sessions.
    let devicesPlugged: Counter
    let devicesUnplugged: Counter
    private let liveLeases: Gauge
    private let liveDevices: Gauge
    private let lostLeases: Gauge
    private let sessions: SessionServer?
    /// The session statistics at the last scrape: counters advance by the difference.
    private let lastSessions = Mutex(SessionStatistics())
    /// The admission queue's statistics at the last scrape, likewise.
    private let lastAdmissions = Mutex(AdmissionQueue.Statistics())

    init(sessions: SessionServer? = nil) {
        self.sessions = sessions
        leasesCreated = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "leases_created", unitName: "total", helpText: "Leases created since start"), labels: [])
        leasesReleased = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "leases_released", unitName: "total", helpText: "Leases released since start"), labels: [])
        leaseCreateSeconds = registry.makeDurationHistogram(
            descriptor: .init(namespace: "fractal", metricName: "lease_create", unitName: "seconds", helpText: "Time from a lease request to udev-initialised devices"), labels: [], buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)])
        eventsInjected = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "events_injected", unitName: "total", helpText: "Input events written through the API"), labels: [])
        feedbackReceived = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "feedback", unitName: "total", helpText: "Rumble and LED feedback served from devices"), labels: [])
        devicesPlugged = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "hotplug", unitName: "total", helpText: "Devices plugged into or unplugged from running sessions"), labels: [("action", "plug")])
        devicesUnplugged = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "hotplug", unitName: "total", helpText: "Devices plugged into or unplugged from running sessions"), labels: [("action", "unplug")])
        liveLeases = registry.makeGauge(
            descriptor: .init(namespace: "fractal", metricName: "leases", unitName: "", helpText: "Leases by state"), labels: [("state", "active")])
        lostLeases = registry.makeGauge(
            descriptor: .init(namespace: "fractal", metricName: "leases", unitName: "", helpText: "Leases by state"), labels: [("state", "devices-lost")])
        liveDevices = registry.makeGauge(
            descriptor: .init(namespace: "fractal", metricName: "devices", unitName: "", helpText: "Live virtual input devices"), labels: [])
    }

    func error(_ operation: String, status: Int) {
        registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "api_errors", unitName: "total", helpText: "API requests refused or failed"), labels: [("operation", operation), ("status", String(status))]).increment()
    }

    /// The text exposition, with the gauges read from the manager at scrape time.
    func render(_ manager: LeaseManager) -> String {
        let counts = manager.counts
        liveLeases.set(Double(counts.leases))
        lostLeases.set(Double(counts.lost))
        liveDevices.set(Double(counts.devices))
        recordAdmissions(manager.admissions.statistics)
        if let sessions { recordSessions(sessions.statistics) }
        return registry.emitToString()
    }

    // MARK: Lease admission (fractal_lease_queue_*)

    private func recordAdmissions(_ now: AdmissionQueue.Statistics) {
        let before = lastAdmissions.withLock { last in
            defer { last = now }
            return last
        }
        registry.makeGauge(
            descriptor: .init(namespace: "fractal", metricName: "lease_queue_depth", unitName: "", helpText: "Lease creations waiting for their turn"), labels: []
        ).set(Double(now.waiting))
        registry.makeGauge(
            descriptor: .init(namespace: "fractal", metricName: "lease_creations_in_flight", unitName: "", helpText: "Lease creations admitted and not yet finished"), labels: []
        ).set(Double(now.inFlight))
        let admitted = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "lease_admissions", unitName: "total", helpText: "Lease creations admitted (run at once or after waiting)"), labels: [])
        if now.admitted > before.admitted { admitted.increment(by: Int64(now.admitted - before.admitted)) }
        let refused = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "lease_queue_refused", unitName: "total", helpText: "Lease creations refused because the queue was at its depth limit"), labels: [])
        if now.refused > before.refused { refused.increment(by: Int64(now.refused - before.refused)) }
        // With lease_admissions_total, the mean wait; its rate, the time creations spend queued.
        let waited = registry.makeCounter(
            descriptor: .init(namespace: "fractal", metricName: "lease_queue_wait_seconds", unitName: "total", helpText: "Time admitted lease creations spent waiting for their turn, summed"), labels: [])
        let seconds = (now.waited - before.waited).fractionalSeconds
        if seconds > 0 { waited.increment(by: seconds) }
    }

    // MARK: Session sockets (fractal_session_*)

    private func recordSessions(_ now: SessionStatistics) {
        let before = lastSessions.withLock { last in
            defer { last = now }
            return last
        }
        func count(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Int, _ previous: Int) {
            let counter = registry.makeCounter(
                descriptor: .init(namespace: "fractal_session", metricName: name, unitName: "total", helpText: help), labels: labels)
            // Registering is what makes a counter show at 0; only a rise is added.
            if value > previous { counter.increment(by: Int64(value - previous)) }
        }
        count("connections_accepted", "Session-socket connections accepted", [], now.connectionsAccepted, before.connectionsAccepted)
        count("connections_refused", "Session-socket connections refused (per-lease limit)", [], now.connectionsRefused, before.connectionsRefused)
        count("connections_closed", "Session-socket connections closed", [], now.connectionsClosed, before.connectionsClosed)
        count("frames", "Frames received on session sockets", [], now.framesReceived, before.framesReceived)
        count("events_received", "Events received on session sockets", [], now.eventsReceived, before.eventsReceived)
        count("events_written", "Events written to devices from session sockets", [], now.eventsWritten, before.eventsWritten)
        count("batches_written", "Event batches (write(2) calls) from session sockets", [], now.batchesWritten, before.batchesWritten)
        count("key_releases", "Keys released for session connections that went away holding them", [], now.releasesWritten, before.releasesWritten)
        for reason in InputFilter.DropReason.allCases {
            count("events_dropped", "Events dropped by the input filter, by reason", [("reason", reason.rawValue)], now.drops[reason], before.drops[reason])
        }
        for (code, value) in now.errors {
            count("errors", "ERROR frames by code (sent or rate-limited)", [("code", code.description)], value, before.errors[code] ?? 0)
        }
        count("errors_suppressed", "ERROR frames not sent because of the per-connection rate limit", [], now.errorsSuppressed, before.errorsSuppressed)
        count("notifications_sent", "Rumble, LED, lightbar and player-light notifications sent", [], now.notificationsSent, before.notificationsSent)
        count("notifications_dropped", "Rumble and LED notifications dropped because the client did not read", [], now.notificationsDropped, before.notificationsDropped)
        count("fds_passed", "uinput descriptors handed off", [], now.descriptorsPassed, before.descriptorsPassed)
        count("timeouts", "Connections closed for no HELLO or no frame in time", [], now.timeouts, before.timeouts)
        count("accept_pauses", "Times a session socket stopped accepting because the daemon ran out of descriptors", [], now.acceptsPaused, before.acceptsPaused)
        count("texts_typed", "TEXT messages typed on a lease's keyboard", [], now.textsTyped, before.textsTyped)
        count("layouts_compiled", "XKB keymaps compiled for TEXT (each layout once; failures too)", [], now.layoutsCompiled, before.layoutsCompiled)
        // Read by the session loop, which serves every device's feedback; kept under its old name.
        if now.feedbackRead > before.feedbackRead { feedbackReceived.increment(by: Int64(now.feedbackRead - before.feedbackRead)) }
        registry.makeGauge(
            descriptor: .init(namespace: "fractal_session", metricName: "connections", unitName: "", helpText: "Open session-socket connections"), labels: []
        ).set(Double(now.connectionsOpen))
    }
}
