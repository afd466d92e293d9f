import DeviceManager
import Prometheus

/// The daemon's Prometheus metrics, served at `GET /metrics`.
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let leasesCreated: Counter
    let leasesReleased: Counter
    let leaseCreateSeconds: DurationHistogram
    let eventsInjected: Counter
    let feedbackReceived: Counter
    private let liveLeases: Gauge
    private let liveDevices: Gauge
    private let lostLeases: Gauge

    init() {
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
        return registry.emitToString()
    }
}
