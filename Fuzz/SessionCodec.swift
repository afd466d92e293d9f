// libFuzzer target `session-codec`: bytes a session's container writes to its socket, through
// the frame decoder and the message parser, and the JSON manifests a client parses.
//
// Properties checked beyond "no crash": splitting the stream anywhere yields the same frames
// and the same error; the decoder holds at most one frame plus what was fed since the last
// drain; every decoded message survives encode → decode unchanged, and so does every manifest
// that parses.

import FractalSessionProtocol
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func sessionCodecFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // The last byte picks a small payload limit for half the inputs, so length checks near the
    // limit are reachable with short inputs.
    let limit = (bytes.last ?? 0) & 1 == 0 ? SessionWire.maximumPayload : 64
    let whole = decodeStream([bytes[...]], maximumPayload: limit)
    let chunks = split(bytes)
    let pieces = decodeStream(chunks, maximumPayload: limit)
    guard whole == pieces else {
        fatalError("splitting the stream changed the result: \(whole) vs \(pieces) for chunks \(chunks.map(\.count))")
    }
    return 0
}

/// What decoding a stream gives: the frames, then the error that stopped it (or nil).
struct StreamResult: Equatable {
    var frames: [SessionFrame] = []
    var error: SessionProtocolError?
    var truncated = false
}

func decodeStream(_ chunks: [ArraySlice<UInt8>], maximumPayload: Int) -> StreamResult {
    var decoder = SessionFrameDecoder(maximumPayload: maximumPayload)
    var result = StreamResult()
    for chunk in chunks {
        chunk.withUnsafeBytes { decoder.feed($0) }
        do {
            while let frame = try decoder.next() {
                check(frame)
                result.frames.append(frame)
            }
        } catch {
            result.error = error
            return result
        }
        // Drained: what is left is less than one frame.
        guard decoder.bufferedByteCount < SessionWire.headerSize + maximumPayload else {
            fatalError("decoder holds \(decoder.bufferedByteCount) bytes after draining (limit \(maximumPayload))")
        }
    }
    do { try decoder.finish() } catch { result.truncated = true }
    return result
}

/// Cuts `bytes` where its own bytes say, so the fuzzer explores chunk boundaries too.
func split(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    var chunks: [ArraySlice<UInt8>] = []
    var start = 0
    var seed = bytes.first.map(Int.init) ?? 0
    while start < bytes.count {
        let length = min(bytes.count - start, 1 + seed % 13)
        chunks.append(bytes[start..<(start + length)])
        seed = Int(bytes[start + length - 1]) &+ seed &* 31
        seed = seed & 0xFFFF
        start += length
    }
    return chunks
}

/// A decoded frame's message survives encoding, and its manifests parse or fail cleanly.
func check(_ frame: SessionFrame) {
    let message: SessionMessage
    do { message = try SessionMessage(frame) } catch {
        _ = error.code
        _ = error.description
        return
    }
    let again: SessionMessage
    do { again = try SessionMessage(message.frame) } catch {
        fatalError("\(message) encodes to a frame that does not decode: \(error)")
    }
    switch (message, again) {
    case (.error(let code, let text), .error(let codeAgain, let textAgain)):
        // Encoding cuts an over-long text (invalid UTF-8 grows as it is replaced): a prefix is right.
        guard code == codeAgain, text.utf8.starts(with: textAgain.utf8) else {
            fatalError("ERROR did not survive encoding: \(message) vs \(again)")
        }
    default:
        guard message == again else { fatalError("\(message) did not survive encoding: \(again)") }
    }
    _ = message.type.description
    switch message {
    case .welcome(_, let manifest):
        roundTrip(SessionManifest.self, manifest)
    case .fds(let manifest):
        roundTrip(SessionFDManifest.self, manifest)
    case .error(let code, _):
        _ = code.description
        _ = code.isFatal
    default:
        break
    }
}

/// JSON that decodes as `T` encodes and decodes back to the same value.
func roundTrip<T: Codable & Equatable>(_: T.Type, _ bytes: [UInt8]) {
    guard let value = try? JSONDecoder().decode(T.self, from: Data(bytes)) else { return }
    do {
        let again = try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
        guard again == value else { fatalError("\(T.self) did not survive JSON: \(value) vs \(again)") }
    } catch {
        fatalError("\(T.self) \(value) does not survive JSON: \(error)")
    }
}
