import DeviceManager
import FractalAPI
import FractalSessionClient
import FractalSessionProtocol
import Foundation
import Testing

/// The path a streaming server uses: a lease's pen and trackpad driven through its session
/// socket under the default policy, read by libinput on their event nodes. In the daemon's boot
/// (it installs the udev rules, which the device boot must not have).
@Suite(.serialized) struct TrackpadSessionVMTests {
    @Test func aTwoFingerScrollAndAPenStrokeThroughTheSessionSocketReachLibinput() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        defer { Task { await api.shutdown() } }
        let lease = try await api.createLease(CreateLeaseRequest(devices: ["trackpad", "pen"], policy: "default"))
        func eventNode(_ role: DeviceRole) throws -> String {
            let device = try #require(lease.devices.first { $0.role == role })
            return try #require(device.nodes.first { $0.kind == "event" }).path
        }
        let client = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        let manifest = try client.hello()
        #expect(manifest.devices.map(\.role) == ["trackpad", "pen"])

        func send(_ device: UInt8) -> ([InputEvent]) throws -> Void {
            { frame in try client.send(frame.map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }, toDevice: device) }
        }

        let trackpad = try LibinputEvents(node: try eventNode(.trackpad))
        try Gestures.play(Gestures.twoFingerScroll, send(0))
        try client.ping()
        #expect(trackpad.wait { PenTrackpadVMTests.scrolls(in: $0) }, "\(trackpad.text)")
        let scrolls = trackpad.events("POINTER_SCROLL_FINGER") + trackpad.events("POINTER_AXIS")
        #expect(scrolls.contains { $0.contains("vert") }, "\(trackpad.stop())")
        trackpad.stop()

        let pen = try LibinputEvents(node: try eventNode(.pen))
        try Gestures.play(Gestures.penStroke, send(1))
        try client.ping()
        #expect(pen.wait { $0.contains("proximity-out") }, "\(pen.text)")
        let motion = pen.events("TABLET_TOOL_AXIS")
        #expect(motion.contains { ($0.contains("pressure:") || $0.contains("distance:")) && $0.contains("tilt:") }, "\(pen.stop())")
        pen.stop()

        // The default policy's filter let every event through: no error came back.
        if let notification = try client.nextNotification(timeout: .milliseconds(500)) {
            Issue.record("the session socket answered \(notification)")
        }
        let sent = (Gestures.twoFingerScroll + Gestures.penStroke).joined().count
        let metrics = try await api.metrics()
        #expect(metrics.contains("fractal_session_events_written_total \(sent)\n"), "\(metrics)")
        #expect(!metrics.split(separator: "\n").contains { $0.hasPrefix("fractal_session_events_dropped_total") && !$0.hasSuffix(" 0") }, "\(metrics)")
        client.close()
        daemon.stop()
    }
}
