import CLibEvdev
import DeviceManager
import FractalAPI
import FractalClient
import FractalSessionClient
import FractalSessionProtocol
import Foundation
import Testing

/// `devicectl inject --text --layout` through the daemon onto a lease's keyboard, read from the
/// node by xkbcommon with the same keymap (and the en_US.UTF-8 compose table for dead keys), as a
/// program in the session would read it.
@Suite(.serialized) struct TextInjectionVMTests {
    @Test func textTypedInUSGermanAndFrenchReadsBackExactlyAndUntypableTextWritesNothing() async throws {
        try requireVM()
        try installUdevRules()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        _ = try await client.createLease(CreateLeaseRequest(id: "text", devices: ["keyboard"]))
        let node = try EvdevNode("/dev/input/by-fractal-id/text/keyboard")

        // What each layout can type of äöü€@: us only @; de all, AltGr for € and @; fr all,
        // AltGr for € and @, its dead diaeresis and then the letter for ä, ö and ü.
        let wanted = "äöü€@"
        for (layout, typable) in [("us", "@"), ("de", "äöü€@"), ("fr", "äöü€@")] {
            let name = try KeyboardLayoutName(layout: layout)
            if typable != wanted {
                let (status, message) = try daemon.devicectl(["inject", "text", "keyboard", "--text", wanted, "--layout", layout])
                #expect(status == 1, "\(message)")
                #expect(message.contains("keyboard layout \(layout) cannot type 'ä' (U+00E4) at 0"), "\(message)")
            }
            let (status, message) = try daemon.devicectl(["inject", "text", "keyboard", "--text", typable, "--layout", layout])
            #expect(status == 0, "\(message)")
            // The refusal above wrote nothing: exactly this text's events arrive, and no more.
            let count = try KeyboardLayout(name).events(typing: typable).count
            let reader = try KeymapReader(name)
            for event in try node.read(count: count) { reader.read(event) }
            #expect(reader.text == typable, "\(layout)")
            #expect(pendingEvents(node) == 0, "\(layout)")
        }

        // The API: a layout that does not compile is a 400 naming it, untypable text a 422 listing it.
        do {
            _ = try await client.type("text", TextRequest(text: "a", layout: try KeyboardLayoutName(layout: "xx")))
            Issue.record("typed in layout xx")
        } catch FractalClientError.api(let status, let message) {
            #expect(status == 400)
            #expect(message.contains("keyboard layout xx does not compile"), "\(message)")
        }
        do {
            _ = try await client.type("text", TextRequest(text: "a€"))
            Issue.record("typed € on us")
        } catch FractalClientError.api(let status, let message) {
            #expect(status == 422)
            #expect(message.contains("'€' (U+20AC) at 1"), "\(message)")
        }
        let typed = try await client.type("text", TextRequest(text: "Hi\n"))
        #expect(typed.characters == 3)
        let reader = try KeymapReader(.us)
        for event in try node.read(count: typed.events) { reader.read(event) }
        #expect(reader.text == "Hi\n")
        #expect(pendingEvents(node) == 0)
        daemon.stop()
    }

    /// TEXT (session protocol 1.1) on the lease's socket: the daemon types German through the
    /// same `KeyboardLayout`, and a reader with the keymap decodes exactly the text; text with a
    /// character its layout lacks, or a layout that does not compile, is an ERROR and writes nothing.
    @Test func textOnTheSessionSocketTypesGermanAndRefusesWhatTheLayoutCannotType() async throws {
        let (daemon, api, node, client) = try await Self.keyboardSession()
        defer { Task { await api.shutdown() } }
        let de = try KeyboardLayoutName(layout: "de")

        // What a compile costs here, in this process with the daemon's code (the daemon compiles
        // off its loop thread, once per layout).
        let clock = ContinuousClock()
        let compile = try clock.measure { _ = try KeyboardLayout(de) }
        let firstText = try clock.measure {
            try client.typeText("a€", toDevice: 0)
            try client.typeText("a", layout: "xx", toDevice: 0)
            try client.typeText("äöü€@", layout: "de", toDevice: 0)
            try client.ping()
        }
        let secondText = try clock.measure {
            try client.typeText("@", layout: "de", toDevice: 0)
            try client.ping()
        }
        print("TextInjectionVMTests: compiling de took \(compile); TEXT de to PONG \(firstText) the first time (compiling), \(secondText) the next")

        var errors: [(SessionErrorCode, String)] = []
        while case .error(let code, let message)? = try client.nextNotification(timeout: .milliseconds(200)) { errors.append((code, message)) }
        #expect(errors.map(\.0) == [.untypable, .badLayout], "\(errors)")
        #expect(errors.first?.1.contains("keyboard layout us cannot type '€' (U+20AC) at 1") == true, "\(errors)")
        #expect(errors.last?.1.contains("keyboard layout xx does not compile") == true, "\(errors)")
        // The refusals wrote nothing: exactly the German text's events arrive, then the @.
        let count = try KeyboardLayout(de).events(typing: "äöü€@@").count
        let reader = try KeymapReader(de)
        for event in try node.read(count: count) { reader.read(event) }
        #expect(reader.text == "äöü€@@")
        #expect(pendingEvents(node) == 0)
        daemon.stop()
    }

    /// A text far longer than a reader's evdev buffer (64 events on a keyboard) reaches a reader
    /// that reads as it comes, with nothing dropped: the daemon types it in paced batches, and
    /// a PING sent after it is answered once it is all typed.
    @Test func aLongTextOnTheSessionSocketReachesAReaderWithNothingDropped() async throws {
        let (daemon, api, node, client) = try await Self.keyboardSession()
        defer { Task { await api.shutdown() } }
        let de = try KeyboardLayoutName(layout: "de")
        let text = String(repeating: "Grüße aus Köln: 5 € für @fractal!\n", count: 6)
        let count = try KeyboardLayout(de).events(typing: text).count
        #expect(count > 10 * 64)
        try client.typeText(text, layout: "de", toDevice: 0)
        let events = try node.read(count: count, timeout: .seconds(60))
        try client.ping()
        #expect(!events.contains { $0.type == UInt16(EV_SYN) && $0.code == UInt16(SYN_DROPPED) })
        let reader = try KeymapReader(de)
        for event in events { reader.read(event) }
        #expect(reader.text == text)
        #expect(pendingEvents(node) == 0)
        daemon.stop()
    }

    /// A daemon, a lease with a keyboard, its event node and a session client that said HELLO.
    private static func keyboardSession() async throws -> (DaemonProcess, FractalClient, EvdevNode, SessionClient) {
        try requireVM()
        let daemon = try DaemonProcess()
        let api = daemon.client()
        let lease = try await api.createLease(CreateLeaseRequest(devices: ["keyboard"]))
        let keyboard = try #require(lease.devices.first { $0.role == .keyboard })
        let node = try EvdevNode(try #require(keyboard.nodes.first { $0.kind == "event" }).path)
        let client = try SessionClient(connectingTo: try #require(lease.session?.socketPath))
        _ = try client.hello()
        return (daemon, api, node, client)
    }

    /// Events waiting on the node now (it is opened non-blocking).
    private func pendingEvents(_ node: EvdevNode) -> Int {
        var count = 0
        var event = input_event()
        while Glibc.read(node.fd, &event, MemoryLayout<input_event>.size) == MemoryLayout<input_event>.size { count += 1 }
        return count
    }
}
