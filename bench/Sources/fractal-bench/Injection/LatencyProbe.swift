import CBenchBaselines
import FractalSessionClient
import FractalSessionProtocol
import Glibc

/// Write-to-read latency: a thread blocked in read(2) on the device's event node stamps each
/// frame as it arrives; the sender stamps it just before its first write. Frames are paired by
/// the number in their MSC_SCAN, and the sender waits for the reader's acknowledgement (one
/// byte on a pipe) and a short gap before the next frame, so no frame queues behind another.
enum LatencyProbe {
    /// The gap after each acknowledgement, so the reader is back in read(2) before the next frame.
    static let gapNanoseconds: Int64 = 200_000

    /// Sends `frames` frames with `send` while a reader blocks on `eventNode`; returns the
    /// latencies in microseconds. `send` gets the fd to read acknowledgements from and the
    /// buffer for its send times, and must end with a frame numbered -1. With `countingAxis`,
    /// frames carry no number: the reader counts frames that change that EV_ABS axis (which
    /// every frame must), and `send` waits for the last one's acknowledgement instead.
    static func measure(
        eventNode: String, frames: Int, ackFD: Int32? = nil, countingAxis: UInt16? = nil,
        send: (_ ackReadFD: Int32, _ sentNanoseconds: UnsafeMutablePointer<Int64>) throws -> Void
    ) throws -> [Double] {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw BenchFailure("pipe: \(String(cString: strerror(errno)))") }
        defer {
            close(ends[0])
            close(ends[1])
        }
        var reader: OpaquePointer?
        let started = if let countingAxis {
            cbench_reader_start_counting(eventNode, frames, ackFD ?? ends[1], countingAxis, &reader)
        } else {
            cbench_reader_start(eventNode, frames, ackFD ?? ends[1], &reader)
        }
        guard started == 0, let reader else {
            throw BenchFailure("reading \(eventNode): \(String(cString: strerror(-started)))")
        }
        // Let the reader reach read(2) before the first frame.
        usleep(20_000)
        var sent = [Int64](repeating: -1, count: frames)
        var received = [Int64](repeating: -1, count: frames)
        var sendError: (any Error)?
        do {
            try sent.withUnsafeMutableBufferPointer { try send(ends[0], $0.baseAddress!) }
        } catch {
            sendError = error
        }
        let arrived = received.withUnsafeMutableBufferPointer { cbench_reader_finish(reader, 60_000, $0.baseAddress!) }
        if let sendError { throw sendError }
        guard arrived == frames else { throw BenchFailure("\(eventNode): \(arrived) of \(frames) frames arrived") }
        return zip(sent, received).compactMap { sent, received in
            sent >= 0 && received >= 0 ? Double(received - sent) / 1000 : nil
        }
    }

    /// One pass through a session socket: one EVENTS message per frame, on the lease's device 0.
    static func socketPass(_ session: SessionClient, eventNode: String, frames: Int) throws -> [Double] {
        try measure(eventNode: eventNode, frames: frames) { ack, sent in
            var events = PointerFrames.frame(0).map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }
            for number in 0..<frames {
                events = PointerFrames.frame(number).map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }
                sent[number] = Monotonic.nanoseconds
                try session.send(events, toDevice: 0)
                var byte: UInt8 = 0
                guard read(ack, &byte, 1) == 1 else { throw BenchFailure("the reader stopped acknowledging") }
                usleep(UInt32(gapNanoseconds / 1000))
            }
            events[PointerFrames.sequenceIndex].value = -1
            try session.send(events, toDevice: 0)
        }
    }
}
