import Foundation
import Glibc

/// python3-evdev's `UInput.write` (Debian's python3-evdev), timed by `bench/python/evdev_sender.py`
/// in its own process on the same clock.
struct PythonEvdev {
    let script: String
    static let interpreter = "/usr/bin/python3"

    var available: String? {
        guard access(Self.interpreter, X_OK) == 0 else { return "\(Self.interpreter) is missing" }
        guard access(script, R_OK) == 0 else { return "\(script) is missing" }
        return nil
    }

    /// Nanoseconds per event, one figure per round.
    func throughput(events: Int, rounds: Int) throws -> [Double] {
        let (status, output) = try Tool.run([Self.interpreter, script, "throughput", String(events), String(rounds)])
        guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let values = object["ns_per_event"] as? [Double] else {
            throw BenchFailure("python3-evdev throughput: exit \(status): \(output)")
        }
        return values
    }

    /// Write-to-read latencies in microseconds, with the reader in this process acknowledging
    /// each frame on the script's stdin.
    func latency(frames: Int) throws -> [Double] {
        let process = Process()
        process.executableURL = URL(filePath: Self.interpreter)
        process.arguments = [script, "latency", String(frames), String(LatencyProbe.gapNanoseconds)]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        let reading = output.fileHandleForReading.fileDescriptor
        var first: [UInt8] = []
        var byte: UInt8 = 0
        while read(reading, &byte, 1) == 1, byte != UInt8(ascii: "\n") { first.append(byte) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(first)) as? [String: Any],
              let node = object["node"] as? String else {
            throw BenchFailure("python3-evdev latency: no node line (got '\(String(decoding: first, as: UTF8.self))')")
        }
        let ack = input.fileHandleForWriting.fileDescriptor
        var sentNanoseconds: [Int64] = []
        let latencies = try LatencyProbe.measure(eventNode: node, frames: frames, ackFD: ack) { _, sent in
            var go = UInt8(ascii: "g")
            guard write(ack, &go, 1) == 1 else { throw BenchFailure("python3-evdev latency: cannot start the sender") }
            let rest = output.fileHandleForReading.readDataToEndOfFile()
            guard let line = String(decoding: rest, as: UTF8.self).split(separator: "\n").last,
                  let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let stamps = object["sent_ns"] as? [NSNumber], stamps.count == frames else {
                throw BenchFailure("python3-evdev latency: no send times")
            }
            sentNanoseconds = stamps.map(\.int64Value)
            for (index, stamp) in sentNanoseconds.enumerated() { sent[index] = stamp }
        }
        return latencies
    }
}
