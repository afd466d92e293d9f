import CUInput
import DeviceManager
import Foundation
import Synchronization

/// `libinput debug-events --device NODE` running beside a test, as a compositor would read the
/// device: started before the test writes, its output read as it comes.
final class LibinputEvents: Sendable {
    let node: String
    private let process: Process
    private let output = Output()
    private let finished = DispatchSemaphore(value: 0)

    /// Starts it and waits until libinput has added the device (so nothing written later is missed).
    init(node: String) throws {
        self.node = node
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        // Line-buffered: into a pipe, stdio would hold the lines until exit.
        process.arguments = ["stdbuf", "-oL", "libinput", "debug-events", "--device", node]
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        let reader = pipe.fileHandleForReading
        // Read on a GCD thread, never on the cooperative pool, which blocking here would starve.
        DispatchQueue.global().async { [output, finished] in
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                output.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            finished.signal()
        }
        guard wait(for: { $0.contains("DEVICE_ADDED") }) else {
            let text = stop()
            throw VMTestFailure(description: "libinput debug-events --device \(node) added no device: \(text)")
        }
    }

    deinit {
        stop()
    }

    /// What it printed so far.
    var text: String { output.text.withLock { $0 } }

    /// The lines it printed for events of `type` (DEVICE_ADDED, TABLET_TOOL_AXIS, ...): libinput
    /// continues a line with tab-indented ones, which come joined to it.
    func events(_ type: String) -> [String] {
        var joined: [String] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("\t"), !joined.isEmpty { joined[joined.count - 1] += String(line) } else { joined.append(String(line)) }
        }
        return joined.filter { $0.split(whereSeparator: \.isWhitespace).dropFirst().first.map(String.init) == type }
    }

    /// Waits until the output satisfies `done`; false if it never did within `timeout` or
    /// libinput exited.
    func wait(timeout: Duration = .seconds(30), for done: (String) -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if done(text) { return true }
            if !process.isRunning { return done(text) }
            usleep(20_000)
        }
        return done(text)
    }

    /// Kills it and returns everything it printed (each line was flushed as it was printed).
    /// SIGKILL, not SIGINT: a child inherits the spawning thread's signal mask, and the test's
    /// threads block the others.
    @discardableResult
    func stop() -> String {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        // Signalled again for a later call: the reader is done for good.
        if finished.wait(timeout: .now() + 10) == .success { finished.signal() }
        return text
    }
}

/// What a reader thread appends to while the test reads it.
private final class Output: Sendable {
    let text = Mutex<String>("")
}

/// Input a person makes, as frames (each ending in SYN_REPORT) for a test to write at a person's pace.
enum Gestures {
    private static func c(_ value: Int32) -> UInt16 { UInt16(value) }

    /// Two fingers 15 mm apart on the trackpad moving down together by 30 mm in 1 mm steps, then
    /// lifted: libinput's two-finger scroll (fingers within 40 mm across and 7 mm down of each
    /// other, each moving more than 1.5 mm the same way).
    static var twoFingerScroll: [[InputEvent]] {
        let left: Int32 = 25000, right: Int32 = 25000 + 15 * 512, top: Int32 = 15000
        var frames: [[InputEvent]] = [[
            .abs(c(ABS_MT_SLOT), 0), .abs(c(ABS_MT_TRACKING_ID), 1), .abs(c(ABS_MT_POSITION_X), left), .abs(c(ABS_MT_POSITION_Y), top),
            .abs(c(ABS_MT_SLOT), 1), .abs(c(ABS_MT_TRACKING_ID), 2), .abs(c(ABS_MT_POSITION_X), right), .abs(c(ABS_MT_POSITION_Y), top),
            .key(c(BTN_TOUCH), pressed: true), .key(c(BTN_TOOL_DOUBLETAP), pressed: true),
            .abs(c(ABS_X), left), .abs(c(ABS_Y), top), .syn(),
        ]]
        for step in Int32(1)...30 {
            let y = top + step * 819
            frames.append([
                .abs(c(ABS_MT_SLOT), 0), .abs(c(ABS_MT_POSITION_Y), y),
                .abs(c(ABS_MT_SLOT), 1), .abs(c(ABS_MT_POSITION_Y), y),
                .abs(c(ABS_Y), y), .syn(),
            ])
        }
        frames.append([
            .abs(c(ABS_MT_SLOT), 0), .abs(c(ABS_MT_TRACKING_ID), -1),
            .abs(c(ABS_MT_SLOT), 1), .abs(c(ABS_MT_TRACKING_ID), -1),
            .key(c(BTN_TOUCH), pressed: false), .key(c(BTN_TOOL_DOUBLETAP), pressed: false), .syn(),
        ])
        return frames
    }

    /// The pen comes into proximity hovering, touches down, draws a short line pressing harder
    /// and tilting as it goes, lifts and leaves: tilt from 10 to 20 degrees on X, -5 on Y.
    static var penStroke: [[InputEvent]] {
        var frames: [[InputEvent]] = [[
            .key(c(BTN_TOOL_PEN), pressed: true), .abs(c(ABS_X), 20000), .abs(c(ABS_Y), 20000), .abs(c(ABS_DISTANCE), 40),
            .abs(c(ABS_TILT_X), 1000), .abs(c(ABS_TILT_Y), -500), .syn(),
        ], [
            .key(c(BTN_TOUCH), pressed: true), .abs(c(ABS_DISTANCE), 0), .abs(c(ABS_PRESSURE), 1000), .syn(),
        ]]
        for step in Int32(1)...10 {
            frames.append([
                .abs(c(ABS_X), 20000 + step * 300), .abs(c(ABS_PRESSURE), 1000 + step * 200),
                .abs(c(ABS_TILT_X), 1000 + step * 100), .syn(),
            ])
        }
        frames.append([.key(c(BTN_TOUCH), pressed: false), .abs(c(ABS_PRESSURE), 0), .abs(c(ABS_DISTANCE), 40), .syn()])
        frames.append([.key(c(BTN_TOOL_PEN), pressed: false), .syn()])
        return frames
    }

    /// Writes `frames` 10 ms apart, about a touchpad's report rate: libinput reads speed from the
    /// kernel's timestamps, and frames written back to back would look like jumps.
    static func play(_ frames: [[InputEvent]], _ write: ([InputEvent]) throws -> Void) rethrows {
        for frame in frames {
            try write(frame)
            usleep(10_000)
        }
    }
}
