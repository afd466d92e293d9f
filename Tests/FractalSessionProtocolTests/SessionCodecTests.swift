import CFractalSession
import FractalSessionProtocol
import Testing

/// The wire format: every message round trips, the bytes are the documented layout, and the C
/// header encodes the same bytes.
@Suite struct SessionCodecTests {
    static let messages: [SessionMessage] = [
        .hello(.current),
        .hello(SessionVersion(major: 7, minor: 65535)),
        .welcome(.current, manifest: Array(#"{"lease":"x"}"#.utf8)),
        .events(device: 3, [SessionEvent(type: 1, code: 30, value: 1), .syn(), SessionEvent(type: 3, code: 0, value: -32768)]),
        .events(device: 0, []),
        .getFDs,
        .fds(manifest: Array("{}".utf8)),
        .ping(token: 0xDEADBEEF),
        .pong(token: 7),
        .error(.capabilityRefused, message: "dropped 1 event: ü"),
        .rumble(device: 1, strong: 65535, weak: 1, durationMs: 250),
        .led(device: 0, code: 1, on: true),
        .led(device: 0, code: 2, on: false),
        .text(device: 0, layout: SessionTextLayout(layout: "de"), text: "äöü€@"),
        .text(device: 2, layout: SessionTextLayout(layout: "fr", variant: "bepo", options: "lv3:ralt_switch"), text: "e\u{0301} 👍\n"),
        .text(device: 0, layout: SessionTextLayout(), text: ""),
        .lightbar(device: 3, red: 255, green: 0, blue: 128),
        .playerLights(device: 1, mask: 0b00100),
    ]

    @Test(arguments: messages) func roundTrips(_ message: SessionMessage) throws {
        var decoder = SessionFrameDecoder()
        decoder.feed(message.encoded())
        let frame = try #require(try decoder.next())
        #expect(try SessionMessage(frame) == message)
        #expect(try decoder.next() == nil)
        try decoder.finish()
    }

    @Test func eventsAreLittleEndianAsDocumented() {
        let bytes = SessionMessage.events(device: 2, [SessionEvent(type: 1, code: 0x1E, value: -2)]).encoded()
        #expect(bytes == [
            0x02, 0x00, 0x00, 0x00, 12, 0, 0, 0, // header: EVENTS, flags 0, length 12
            2, 0, 1, 0, // device 2, reserved, count 1
            1, 0, 0x1E, 0, 0xFE, 0xFF, 0xFF, 0xFF, // EV_KEY, KEY_A, -2
        ])
        #expect(SessionMessage.rumble(device: 1, strong: 0x0102, weak: 0x0304, durationMs: 0x0506).encoded()
            == [0x10, 0x80, 0, 0, 8, 0, 0, 0, 1, 0, 2, 1, 4, 3, 6, 5])
        #expect(SessionMessage.error(.noSuchDevice, message: "x").encoded() == [0xFF, 0x80, 0, 0, 9, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0x78])
    }

    @Test func theCHeaderEncodesTheSameBytes() {
        var hello = [UInt8](repeating: 0, count: 12)
        #expect(fs_encode_hello(&hello) == 12)
        #expect(hello == SessionMessage.hello(.current).encoded())
        var ping = [UInt8](repeating: 0, count: 12)
        _ = fs_encode_ping(&ping, 0x01020304)
        #expect(ping == SessionMessage.ping(token: 0x01020304).encoded())
        var getFDs = [UInt8](repeating: 0, count: 8)
        _ = fs_encode_get_fds(&getFDs)
        #expect(getFDs == SessionMessage.getFDs.encoded())

        let events = [fs_event(type: 1, code: 30, value: 1), fs_event(type: 0, code: 0, value: 0), fs_event(type: 3, code: 1, value: -5)]
        var frame = [UInt8](repeating: 0, count: fs_events_frame_size(3))
        #expect(fs_encode_events(&frame, 4, events, 3) == frame.count)
        #expect(frame == SessionMessage.events(device: 4, events.map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }).encoded())
        #expect(fs_encode_events(&frame, 0, events, UInt16(FS_MAX_EVENTS_PER_FRAME + 1)) == 0)
        #expect(Int(FS_MAX_EVENTS_PER_FRAME) == SessionWire.maximumEventsPerFrame)

        var rumble = fs_rumble()
        let payload = Array(SessionMessage.rumble(device: 2, strong: 9, weak: 8, durationMs: 7).encoded().dropFirst(8))
        #expect(fs_decode_rumble(payload, UInt32(payload.count), &rumble) == 0)
        #expect(rumble.device == 2 && rumble.strong == 9 && rumble.weak == 8 && rumble.duration_ms == 7)
        var header = fs_header()
        #expect(fs_get_header(SessionMessage.ping(token: 1).encoded(), &header) == 0)
        #expect(header.type == UInt16(FS_MSG_PING) && header.length == 4)
    }

    @Test func byteByByteFeedingYieldsTheSameFrames() throws {
        let stream = Self.messages.flatMap { $0.encoded() }
        var decoder = SessionFrameDecoder()
        var decoded: [SessionMessage] = []
        for byte in stream {
            decoder.feed([byte])
            while let frame = try decoder.next() { decoded.append(try SessionMessage(frame)) }
        }
        #expect(decoded == Self.messages)
    }

    @Test func aTruncatedStreamIsReportedAtTheEnd() throws {
        var decoder = SessionFrameDecoder()
        decoder.feed(Array(SessionMessage.ping(token: 1).encoded().dropLast()))
        #expect(try decoder.next() == nil)
        #expect(throws: SessionProtocolError.truncated(bufferedBytes: 11)) { try decoder.finish() }
    }

    @Test func anOversizeLengthFailsAsSoonAsTheHeaderIsIn() {
        var decoder = SessionFrameDecoder()
        decoder.feed([0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00]) // 65537 bytes announced
        #expect(throws: SessionProtocolError.payloadTooLarge(length: 65537, limit: 65536)) { try decoder.next() }
        var huge = SessionFrameDecoder()
        huge.feed([0x02, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: SessionProtocolError.payloadTooLarge(length: 0xFFFF_FFFF, limit: 65536)) { try huge.next() }
        // The largest allowed payload is fine.
        var largest = SessionFrameDecoder()
        largest.feed([0x04, 0x80, 0, 0, 0, 0, 1, 0] + [UInt8](repeating: 0, count: 65536))
        #expect((try? largest.next())??.payload.count == 65536)
    }

    @Test func garbageIsRefusedWithTheRightError() throws {
        var flags = SessionFrameDecoder()
        flags.feed([0x01, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00])
        #expect(throws: SessionProtocolError.nonzeroFlags(1)) { try flags.next() }

        // EVENTS whose count does not match its length, or with a nonzero reserved byte.
        #expect(throws: SessionProtocolError.self) { try SessionMessage(SessionFrame(type: .events, payload: [0, 0, 2, 0] + [UInt8](repeating: 0, count: 8))) }
        #expect(throws: SessionProtocolError.self) { try SessionMessage(SessionFrame(type: .events, payload: [0, 1, 0, 0])) }
        #expect(throws: SessionProtocolError.self) { try SessionMessage(SessionFrame(type: .events, payload: [0, 0])) }
        #expect(throws: SessionProtocolError.self) { try SessionMessage(SessionFrame(type: .hello, payload: [1, 0])) }
        #expect(throws: SessionProtocolError.self) { try SessionMessage(SessionFrame(type: .ping, payload: [])) }
        let unknown = SessionMessageType(rawValue: 0x0006)
        #expect(throws: SessionProtocolError.unknownType(unknown)) { try SessionMessage(SessionFrame(type: unknown)) }
        #expect(SessionProtocolError.unknownType(unknown).code == .unknownType)

        // A later minor may append fields to fixed-size payloads; they are ignored.
        #expect(try SessionMessage(SessionFrame(type: .hello, payload: [1, 0, 3, 0, 9, 9])) == .hello(SessionVersion(major: 1, minor: 3)))
    }

    @Test func textLightbarAndPlayerLightsAreTheDocumentedBytes() {
        #expect(SessionMessage.text(device: 1, layout: SessionTextLayout(layout: "de", variant: "x"), text: "ä@").encoded() == [
            0x05, 0x00, 0x00, 0x00, 10, 0, 0, 0, // header: TEXT, flags 0, length 10
            1, 2, 1, 0, // device 1, layout 2 bytes, variant 1, options 0
            0x64, 0x65, 0x78, // "de", "x"
            0xC3, 0xA4, 0x40, // "ä@"
        ])
        #expect(SessionMessage.lightbar(device: 2, red: 1, green: 2, blue: 3).encoded() == [0x12, 0x80, 0, 0, 4, 0, 0, 0, 2, 1, 2, 3])
        #expect(SessionMessage.playerLights(device: 4, mask: 0x1F).encoded() == [0x13, 0x80, 0, 0, 2, 0, 0, 0, 4, 0x1F])
        // The types 1.1 added, for the daemon's check of what a client's minor knows.
        #expect([SessionMessageType.text, .lightbar, .playerLights].allSatisfy { $0.minorVersion == 1 })
        #expect([SessionMessageType.hello, .events, .rumble, .led, .error].allSatisfy { $0.minorVersion == 0 })
        #expect(SessionVersion.current == SessionVersion(major: 1, minor: 1))
    }

    @Test func aTextOverTheLimitOrNotUTF8OrWithNamesPastItsEndIsABadPayload() throws {
        func decode(_ payload: [UInt8]) throws(SessionProtocolError) -> SessionMessage { try SessionMessage(SessionFrame(type: .text, payload: payload)) }
        let largest = [UInt8](repeating: 0x61, count: SessionWire.maximumTextBytes)
        #expect(try decode([0, 0, 0, 0] + largest) == .text(device: 0, layout: SessionTextLayout(), text: String(repeating: "a", count: 4096)))
        #expect(throws: SessionProtocolError.badPayload(.text, length: 4101, reason: "its text of 4097 bytes is over the limit of 4096")) {
            try decode([0, 0, 0, 0] + largest + [0x61])
        }
        #expect(throws: SessionProtocolError.badPayload(.text, length: 5, reason: "its text is not UTF-8")) { try decode([0, 0, 0, 0, 0xFF]) }
        #expect(throws: SessionProtocolError.badPayload(.text, length: 6, reason: "its layout is not UTF-8")) { try decode([0, 2, 0, 0, 0xC3, 0x28]) }
        #expect(throws: SessionProtocolError.badPayload(.text, length: 5, reason: "its variant of 3 bytes runs past the end")) { try decode([0, 1, 3, 0, 0x64]) }
        #expect(throws: SessionProtocolError.badPayload(.text, length: 3, reason: "needs at least 4 bytes")) { try decode([0, 0, 0]) }
        #expect(throws: SessionProtocolError.self) { try SessionMessage(SessionFrame(type: .lightbar, payload: [0, 1, 2])) }
        #expect(throws: SessionProtocolError.self) { try SessionMessage(SessionFrame(type: .playerLights, payload: [0])) }
        // Later minors may append to the notifications.
        #expect(try SessionMessage(SessionFrame(type: .playerLights, payload: [1, 3, 9])) == .playerLights(device: 1, mask: 3))
    }

    @Test func theCHeaderEncodesTextAndDecodesTheLightsAsSwiftDoes() {
        let text = Array("äöü€@".utf8)
        var frame = [UInt8](repeating: 0, count: fs_text_frame_size("de", nil, "lv3:ralt_switch", text.count))
        let written = text.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { fs_encode_text(&frame, 3, "de", nil, "lv3:ralt_switch", $0.baseAddress, $0.count) }
        }
        #expect(written == frame.count)
        #expect(frame == SessionMessage.text(device: 3, layout: SessionTextLayout(layout: "de", options: "lv3:ralt_switch"), text: "äöü€@").encoded())
        let tooLong = [CChar](repeating: 0x61, count: Int(FS_MAX_TEXT_BYTES) + 1)
        var big = [UInt8](repeating: 0, count: fs_text_frame_size(nil, nil, nil, tooLong.count))
        #expect(fs_encode_text(&big, 0, nil, nil, nil, tooLong, tooLong.count) == 0)
        #expect(Int(FS_MAX_TEXT_BYTES) == SessionWire.maximumTextBytes)
        #expect(FS_VERSION_MINOR == SessionWire.minor)

        var lightbar = fs_lightbar()
        let colour = Array(SessionMessage.lightbar(device: 2, red: 10, green: 20, blue: 30).encoded().dropFirst(8))
        #expect(fs_decode_lightbar(colour, UInt32(colour.count), &lightbar) == 0)
        #expect(lightbar.device == 2 && lightbar.red == 10 && lightbar.green == 20 && lightbar.blue == 30)
        var lights = fs_player_lights()
        let mask = Array(SessionMessage.playerLights(device: 5, mask: 0b1001).encoded().dropFirst(8))
        #expect(fs_decode_player_lights(mask, UInt32(mask.count), &lights) == 0)
        #expect(lights.device == 5 && lights.mask == 0b1001)
        #expect(fs_decode_player_lights(mask, 1, &lights) == -1)
    }

    @Test func errorCodesSayWhichAreFatal() {
        for code in [SessionErrorCode.malformedHeader, .unknownType, .payloadTooLarge, .badPayload, .versionMismatch, .helloRequired, .tooManyConnections, .leaseReleased, .leaseChanged] {
            #expect(code.isFatal, "\(code)")
        }
        for code in [SessionErrorCode.noSuchDevice, .deviceRefused, .capabilityRefused, .filtered, .writeFailed, .fdsUnavailable, .badLayout, .untypable] {
            #expect(!code.isFatal, "\(code)")
        }
    }
}
