import CFractalLinux
import CUInput
import DeviceManager
import FractalSessionClient
import Foundation
import FractalSessionProtocol
import SessionServer
import Testing

/// TEXT (1.1) through the session server on the host, with fake devices: typed with the same
/// `KeyboardLayout` as the API's text route, checked whole before anything is written, paced,
/// and ahead of the frames sent after it; and the 1.1 notifications, sent only to 1.1 clients.
@Suite(.serialized) struct SessionTextHostTests {
    typealias Fixture = SessionServerHostTests.Fixture

    /// Everything the client sent before has been handled (and, for text, typed).
    static func errors(_ client: SessionClient) throws -> [(SessionErrorCode, String)] {
        try client.ping()
        var errors: [(SessionErrorCode, String)] = []
        while case .error(let code, let message)? = try client.nextNotification(timeout: .milliseconds(100)) { errors.append((code, message)) }
        return errors
    }

    @Test func textIsTypedAsTheLayoutTypesItAndReadsBackThroughXKB() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.typeText("äöü€@", layout: "de", toDevice: 0)
        #expect(try Self.errors(client).isEmpty)
        let de = try KeyboardLayoutName(layout: "de")
        let written = fixture.devices[0].written
        #expect(written == (try KeyboardLayout(de).batches(typing: "äöü€@")))
        let reader = try KeymapReader(de)
        for event in written.joined() { reader.read(event) }
        #expect(reader.text == "äöü€@")
        // A second text in the same layout is typed with the layout compiled the first time.
        try client.typeText("@", layout: "de", toDevice: 0)
        try client.ping()
        #expect(fixture.server.statistics.layoutsCompiled == 1)
        #expect(fixture.server.statistics.textsTyped == 2)
    }

    @Test func aLongTextIsTypedInPacedBatchesAndTheFramesAfterItWaitForIt() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        let text = String(repeating: "Hello, World! ", count: 20)
        let batches = try KeyboardLayout(.us).batches(typing: text)
        #expect(batches.count > 10)
        try client.typeText(text, toDevice: 0)
        try client.send([SessionServerHostTests.key(KEY_Z, 1), .syn(), SessionServerHostTests.key(KEY_Z, 0), .syn()], toDevice: 0)
        try client.ping()
        // Each batch was its own write, and the Z sent after the text came after all of it.
        #expect(fixture.devices[0].written == batches + [[.key(UInt16(KEY_Z), pressed: true), .syn(), .key(UInt16(KEY_Z), pressed: false), .syn()]])
        #expect(fixture.server.statistics.batchesWritten == batches.count + 1)
        // The loop served other connections meanwhile, and sleeps when the text is done.
        #expect(fixture.server.isResponsive(within: .seconds(5)))
    }

    @Test func untypableTextAndALayoutThatDoesNotCompileAreErrorsAndWriteNothing() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.typeText("a€ü", toDevice: 0)
        try client.typeText("a", layout: "xx", toDevice: 0)
        try client.typeText("a", layout: "../../etc", toDevice: 0)
        try client.typeText("a", layout: "de", variant: "nosuchvariant", toDevice: 0)
        let errors = try Self.errors(client)
        #expect(errors.map(\.0) == [.untypable, .badLayout, .badLayout, .badLayout])
        #expect(errors[0].1.contains("keyboard layout us cannot type '€' (U+20AC) at 1, 'ü' (U+00FC) at 2"), "\(errors[0].1)")
        #expect(errors[1].1.contains("keyboard layout xx does not compile"), "\(errors[1].1)")
        #expect(errors[2].1.contains("keyboard layout '../../etc' is not an XKB name"), "\(errors[2].1)")
        #expect(errors[3].1.contains("keyboard layout de(nosuchvariant) does not compile"), "\(errors[3].1)")
        #expect(fixture.devices[0].written.isEmpty)
        // The connection stays, and types what it can.
        try client.typeText("a", toDevice: 0)
        try client.ping()
        #expect(fixture.devices[0].written.count == 1)
    }

    @Test func textGoesOnlyToAKeyboardThePolicyLetsItReach() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.typeText("a", toDevice: 1)
        try client.typeText("a", toDevice: 9)
        let errors = try Self.errors(client)
        #expect(errors.map(\.0) == [.deviceRefused, .noSuchDevice])
        #expect(errors[0].1.contains("device 1 is a mouse, not a keyboard"), "\(errors[0].1)")
        // A keyboard that is an unplugged hot-plug slot.
        var unplugged = fixture.lease(policy: .standard)
        unplugged.devices[0].plugged = false
        fixture.server.updateLease(unplugged)
        try client.typeText("a", toDevice: 0)
        let slot = try Self.errors(client)
        #expect(slot.map(\.0) == [.deviceRefused])
        #expect(slot.first?.1.contains("unplugged") == true)
        #expect(fixture.devices.allSatisfy { $0.written.isEmpty })
        #expect(fixture.server.statistics.layoutsCompiled == 0)

        let gamepadOnly = try Fixture(policy: .gamepadOnly)
        let refused = try gamepadOnly.client()
        try refused.typeText("a", toDevice: 0)
        let policy = try Self.errors(refused)
        #expect(policy.map(\.0) == [.deviceRefused])
        #expect(policy.first?.1.contains("policy gamepad-only refuses events to device 0") == true)
        #expect(gamepadOnly.devices[0].written.isEmpty)
        // Refused before any layout was compiled for it.
        #expect(gamepadOnly.server.statistics.layoutsCompiled == 0)
    }

    @Test func aClientThatLeavesWhileItsTextIsTypedLeavesNothingHeld() throws {
        let fixture = try Fixture()
        let raw = try RawConnection(fixture.socketPath)
        let text = String(repeating: "ABC", count: 100)
        _ = try raw.exchange(SessionMessage.hello(.current).encoded(), stopAfter: 1)
        _ = try raw.exchange(SessionMessage.text(device: 0, layout: SessionTextLayout(), text: text).encoded(), closeAfter: true)
        // The text is still typed whole (as the events of a client that left are written), then
        // the connection goes, holding nothing: no release was needed.
        let events = try KeyboardLayout(.us).events(typing: text)
        #expect(fixture.devices[0].wait { $0.joined().count >= events.count })
        #expect(waitUntil { fixture.server.statistics.connectionsOpen == 0 })
        let written = Array(fixture.devices[0].written.joined())
        #expect(written.count == events.count)
        #expect(written == events, "the text differs from what was written")
        #expect(fixture.server.statistics.releasesWritten == 0)
    }

    @Test func lightbarAndPlayerLightsReachA11ClientButNeverA10One() throws {
        let fixture = try Fixture()
        let current = try fixture.client()
        // A client built against 1.0 knows RUMBLE and LED only: it gets those, and nothing it
        // would take for a broken stream.
        let old = try RawConnection(fixture.socketPath)
        let welcome = try old.exchange(SessionMessage.hello(SessionVersion(major: 1, minor: 0)).encoded(), stopAfter: 1)
        guard case .welcome? = welcome.first else { throw TestFailure("no WELCOME: \(welcome)") }
        fixture.devices[2].queueFeedback([.lightbar(red: 255, green: 0, blue: 64), .playerLights(mask: 0b00100), .rumble(effectID: 0, strong: 1, weak: 2, durationMs: 0)])
        #expect(try current.nextNotification(timeout: .seconds(5)) == .lightbar(device: 2, red: 255, green: 0, blue: 64))
        #expect(try current.nextNotification(timeout: .seconds(5)) == .playerLights(device: 2, mask: 0b00100))
        #expect(try current.nextNotification(timeout: .seconds(5)) == .rumble(device: 2, strong: 1, weak: 2, durationMs: 0))
        #expect(try old.exchange(SessionMessage.ping(token: 3).encoded(), until: .pong(token: 3)) == [.rumble(device: 2, strong: 1, weak: 2, durationMs: 0), .pong(token: 3)])
    }

    @Test func aTextOverTheLimitIsRefusedByTheClientAndIsFatalOnTheWire() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        let tooLong = String(repeating: "ü", count: SessionWire.maximumTextBytes / 2 + 1)
        #expect(throws: SessionClientError.self) { try client.typeText(tooLong, toDevice: 0) }
        try client.ping()
        let raw = try RawConnection(fixture.socketPath)
        var frame = SessionMessage.text(device: 0, layout: SessionTextLayout(), text: tooLong).encoded()
        let replies = try raw.exchange(SessionMessage.hello(.current).encoded() + frame)
        guard case .error(.badPayload, let message)? = replies.last else { throw TestFailure("\(replies)") }
        #expect(message.contains("over the limit of 4096"), "\(message)")
        // Text that is not UTF-8 is as malformed.
        frame = SessionFrame(type: .text, payload: [0, 0, 0, 0, 0xC3]).encoded()
        let again = try RawConnection(fixture.socketPath)
        #expect(try again.exchange(SessionMessage.hello(.current).encoded() + frame).last.map { if case .error(.badPayload, _) = $0 { true } else { false } } == true)
        #expect(fixture.devices[0].written.isEmpty)
    }

    @Test func thePythonClientTypesTextAndReportsWhatItCannot() throws {
        let fixture = try Fixture()
        let script = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "clients/python/fractal_session.py").path
        let typed = try run(["python3", script, fixture.socketPath, "text", "0", "ä€", "de"])
        #expect(typed.status == 0 && typed.output.isEmpty, "\(typed.output)")
        #expect(fixture.devices[0].written == (try KeyboardLayout(try KeyboardLayoutName(layout: "de")).batches(typing: "ä€")))
        let refused = try run(["python3", script, fixture.socketPath, "text", "0", "ä€"])
        #expect(refused.output.contains("error 24 keyboard layout us cannot type 'ä' (U+00E4) at 0"), "\(refused.output)")
        #expect(fixture.devices[0].written.count == 1)
    }

    @Test func theClientSendsNoTextToADaemonThatSpeaks10() throws {
        // A 1.0 daemon would take TEXT for an unknown type and close the connection.
        let directory = try makeTemporaryDirectory()
        let path = directory + "/old.sock"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = cfl_unix_listen(path, 1)
        #expect(listener >= 0)
        defer { close(listener) }
        let daemon = Thread {
            var pending = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pending, 1, 5000) == 1 else { return }
            let fd = cfl_unix_accept(listener)
            guard fd >= 0 else { return }
            var hello = [UInt8](repeating: 0, count: 12)
            _ = read(fd, &hello, hello.count)
            let welcome = SessionMessage.welcome(SessionVersion(major: 1, minor: 0), manifest: Array(#"{"lease":"x","policy":"default","devices":[]}"#.utf8)).encoded()
            _ = welcome.withUnsafeBytes { cfl_send(fd, $0.baseAddress, $0.count, 0) }
            usleep(500_000)
            close(fd)
        }
        daemon.start()
        let client = try SessionClient(connectingTo: path)
        _ = try client.hello()
        #expect {
            try client.typeText("a", toDevice: 0)
        } throws: { error in
            (error as? SessionClientError)?.code == .invalidRequest && "\(error)".contains("the daemon speaks 1.0; TEXT needs 1.1")
        }
    }
}
