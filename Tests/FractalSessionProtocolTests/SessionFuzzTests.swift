import CUInput
import DeviceManager
import FractalSessionProtocol
import Testing

/// A million random and mutated frames through the decoder and the input filter, as a
/// connection would: no crash, no unbounded buffer, and every error a typed one.
@Suite struct SessionFuzzTests {
    /// SplitMix64: fast, and a failure replays from its seed.
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let devices = [DeviceRole.keyboard, .mouse, .tablet, .gamepad].map { InputFilter.Device(role: $0, profile: .forRole($0)) }

    static func randomEvent(_ random: inout Random) -> SessionEvent {
        // Half are plausible keyboard traffic (keys, modifiers, SysRq, F-keys, SYN), half anything.
        if Bool.random(using: &random) {
            if Int.random(in: 0..<4, using: &random) == 0 { return .syn() }
            return SessionEvent(type: 1, code: UInt16.random(in: 1...120, using: &random), value: Int32.random(in: 0...2, using: &random))
        }
        let type = UInt16.random(in: 0...5, using: &random)
        let code: UInt16 = switch Int.random(in: 0..<4, using: &random) {
        case 0: UInt16.random(in: 0...0x2ff, using: &random)
        case 1: [29, 56, 97, 100, 59, 60, 111, 14, 99, 116, 30, 42].randomElement(using: &random)!
        case 2: UInt16.random(in: 0...0x3f, using: &random)
        default: UInt16.random(in: 0...UInt16.max, using: &random)
        }
        let value: Int32 = Bool.random(using: &random) ? Int32.random(in: -1...3, using: &random) : Int32(truncatingIfNeeded: random.next())
        return SessionEvent(type: type, code: code, value: value)
    }

    static func randomFrame(_ random: inout Random) -> [UInt8] {
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<45:
            let count = Int.random(in: 0...12, using: &random)
            let events = (0..<count).map { _ in randomEvent(&random) }
            let device = Int.random(in: 0..<4, using: &random) == 0 ? UInt8.random(in: 0...5, using: &random) : 0
            return SessionMessage.events(device: device, events).encoded()
        case 45..<55:
            return [SessionMessage.hello(.current), .ping(token: UInt32.random(in: 0...UInt32.max, using: &random)), .getFDs]
                .randomElement(using: &random)!.encoded()
        case 55..<75:
            // A valid frame with bytes flipped, cut or added.
            var bytes = SessionMessage.events(device: 0, (0..<Int.random(in: 0...4, using: &random)).map { _ in randomEvent(&random) }).encoded()
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: if bytes.count > 1 { bytes.removeLast(Int.random(in: 1..<bytes.count, using: &random)) }
                default: bytes.append(UInt8.random(in: 0...255, using: &random))
                }
            }
            return bytes
        case 75..<98:
            return (0..<Int.random(in: 0...24, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        default:
            // A header announcing a huge or maximal payload.
            var bytes = [UInt8]()
            let length = Int.random(in: 0..<1000, using: &random) == 0 ? Int.random(in: 60000...65536, using: &random) : Int.random(in: 65537...0xFFFF_FFFF, using: &random)
            SessionFrame.appendHeader(type: .events, length: length, to: &bytes)
            return bytes
        }
    }

    @Test func aMillionFramesThroughDecoderAndFilter() {
        var random = Random(state: 0x5EED_F4AC_7A15)
        var decoder = SessionFrameDecoder()
        var filter = InputFilter(policy: .standard, devices: Self.devices)
        var frames = 0, decoded = 0, truncated = 0, streamErrors = 0, messageErrors = 0, written = 0
        var drops = 0
        var largestBuffer = 0
        while frames < 1_000_000 {
            let bytes = Self.randomFrame(&random)
            frames += 1
            // Arrive in chunks of any size, as a socket delivers them.
            var offset = 0
            feeding: while offset < bytes.count {
                let take = min(bytes.count - offset, Int.random(in: 1...96, using: &random))
                decoder.feed(Array(bytes[offset..<(offset + take)]))
                offset += take
                largestBuffer = max(largestBuffer, decoder.bufferedByteCount)
                do {
                    while let frame = try decoder.next() {
                        decoded += 1
                        do {
                            if case .events(let device, let events) = try SessionMessage(frame) {
                                let outcome = filter.filter(events.map { InputEvent(type: $0.type, code: $0.code, value: $0.value) }, device: Int(device))
                                written += outcome.events.count
                                drops += outcome.drops.total
                                #expect(outcome.events.count + outcome.drops.total == events.count)
                            }
                        } catch {
                            messageErrors += 1
                        }
                    }
                } catch {
                    // The stream is out of step: the server closes, the client reconnects.
                    streamErrors += 1
                    for (_, events) in filter.releaseAll() { written += events.count }
                    decoder = SessionFrameDecoder()
                    filter = InputFilter(policy: .standard, devices: Self.devices)
                    break feeding
                }
            }
            // A client that sent part of a frame mostly hangs up (as the VM fuzz does); the rest
            // of the time its next frame lands inside this one.
            if decoder.bufferedByteCount > 0 && Int.random(in: 0..<10, using: &random) != 0 {
                #expect(throws: SessionProtocolError.self) { try decoder.finish() }
                truncated += 1
                for (_, events) in filter.releaseAll() { written += events.count }
                decoder = SessionFrameDecoder()
                filter = InputFilter(policy: .standard, devices: Self.devices)
            }
        }
        // Bounded: never more than one frame's worth plus a chunk.
        #expect(largestBuffer <= SessionWire.headerSize + SessionWire.maximumPayload + 96)
        #expect(decoder.capacity <= 4 * (SessionWire.headerSize + SessionWire.maximumPayload))
        #expect(frames == 1_000_000)
        let summary = "decoded \(decoded), truncated \(truncated), stream errors \(streamErrors), message errors \(messageErrors), written \(written), dropped \(drops)"
        print("fuzz: 1000000 frames: \(summary)")
        #expect(decoded > 300_000, "\(summary)")
        #expect(streamErrors > 1000, "\(summary)")
        #expect(messageErrors > 1000, "\(summary)")
        #expect(written > 100_000, "\(summary)")
        #expect(drops > 100_000, "\(summary)")
    }
}
