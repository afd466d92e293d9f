import CBenchBaselines
import CUInput
import DeviceManager
import Glibc

/// Section 1: what one event costs to inject, how many go through per second, and how long a
/// frame takes from the sender to a reader blocked on the event node; CUInput's batch write
/// against plain C, libevdev and python3-evdev, all on tablet devices in the same run.
struct InjectionBenchmark {
    let sizes: Sizes
    let python: PythonEvdev
    let report: Report

    /// The batch sizes CUInput and the plain-C batch write are measured at (in events; 4 is one frame).
    static let batchSizes = [4, 64, 1024]

    func run() throws {
        let id = FractalID.random()
        let device = try UInputDevice(profile: .tablet, phys: DevicePhys.make(id: id, role: .tablet))
        defer { device.close() }
        let libevdev = try LibevdevDevice(profile: .tablet, phys: "fractal-bench/libevdev/tablet")
        guard let fd = device.fileDescriptor, let eventNode = device.eventNode?.path else {
            throw BenchFailure("the tablet has no uinput fd or event node")
        }
        if Tool.udevRunning { try Tool.settleUdev() }

        try costPerEvent(device: device, fd: fd, libevdev: libevdev)
        try latency(device: device, fd: fd, eventNode: eventNode, libevdev: libevdev)
    }

    // MARK: Cost per event

    private enum Path: Hashable {
        case floor
        case cBatch(Int)
        case cuinput(Int)
        case libevdev
    }

    private func costPerEvent(device: UInputDevice, fd: Int32, libevdev: LibevdevDevice) throws {
        let count = sizes.injectionEvents
        let events = PointerFrames.events(count)
        let kernelEvents = PointerFrames.kernelEvents(events)
        let chunks = Dictionary(uniqueKeysWithValues: Self.batchSizes.map { size in
            (size, stride(from: 0, to: events.count, by: size).map { Array(events[$0..<min($0 + size, events.count)]) })
        })
        let paths: [Path] = [.floor] + Self.batchSizes.map(Path.cBatch) + Self.batchSizes.map(Path.cuinput) + [.libevdev]

        // Rounds interleave the paths (in a rotating order), so that a burst of load from the
        // host's other work falls on all of them alike; the median round is reported.
        var perEvent: [Path: [Double]] = [:]
        try kernelEvents.withUnsafeBufferPointer { kernel in
            for round in 0..<(sizes.injectionRounds + 1) {
                for offset in paths.indices {
                    let path = paths[(offset + round) % paths.count]
                    var failure: Int32 = 0
                    let start = Monotonic.nanoseconds
                    switch path {
                    case .floor:
                        failure = cbench_write_each(fd, kernel.baseAddress, kernel.count)
                    case .cBatch(let size):
                        failure = cbench_write_batches(fd, kernel.baseAddress, kernel.count, size)
                    case .cuinput(let size):
                        for chunk in chunks[size]! { try device.write(chunk) }
                    case .libevdev:
                        failure = cbench_libevdev_write_each(libevdev.uinput, kernel.baseAddress, kernel.count)
                    }
                    let elapsed = Double(Monotonic.nanoseconds - start)
                    guard failure == 0 else { throw BenchFailure("\(path): write failed: \(String(cString: strerror(-failure)))") }
                    // Round 0 warms caches and the kernel's paths; it is not reported.
                    if round > 0 { perEvent[path, default: []].append(elapsed / Double(count)) }
                }
            }
        }
        var pythonPerEvent: [Double] = []
        var pythonProblem = python.available
        if pythonProblem == nil {
            do {
                pythonPerEvent = try python.throughput(events: sizes.pythonEvents, rounds: sizes.injectionRounds)
            } catch {
                pythonProblem = "\(error)"
            }
        }

        let floor = Statistics.median(perEvent[.floor] ?? [])
        var table = Table("Event injection: cost per event", columns: [
            "path", "write(2) calls", "ns/event", "events/s", "vs floor", "vs C batch of the same size",
        ])
        func row(_ name: String, _ calls: String, _ ns: Double?, versusBatch: String = "") {
            table.add([name, calls, Format.number(ns), Format.number(ns.map { 1e9 / $0 }), Format.ratio(ratio(ns, floor)), versusBatch])
        }
        row("floor: C loop, one write(2) per event", "1 per event", floor)
        for size in Self.batchSizes {
            row("C, one write(2) per batch of \(size)", "1 per \(size) events", Statistics.median(perEvent[.cBatch(size)] ?? []))
        }
        for size in Self.batchSizes {
            let ns = Statistics.median(perEvent[.cuinput(size)] ?? [])
            let goal = Goal(name: "CUInput batch of \(size) events, per event vs the floor", ratio: ratio(ns, floor), limit: 1.1)
            report.record(goal)
            row("**CUInput `UInputDevice.write`, batch of \(size)**", "1 per \(size) events", ns,
                versusBatch: Format.ratio(ratio(ns, Statistics.median(perEvent[.cBatch(size)] ?? []))))
        }
        row("`libevdev_uinput_write_event` per event (as inputtino)", "1 per event", Statistics.median(perEvent[.libevdev] ?? []))
        if let pythonProblem {
            table.add(["python3-evdev `UInput.write` per event", "1 per event", "not measured: \(pythonProblem)"])
        } else {
            row("python3-evdev `UInput.write` per event", "1 per event", Statistics.median(pythonPerEvent))
        }
        table.add(["fd hand-off (client writes to a passed uinput fd)", "", "not built yet", "", "", ""])
        table.add(["session-socket injection", "", "not built yet", "", "", ""])
        table.notes = [
            "Median of \(sizes.injectionRounds) rounds of \(Format.grouped(count)) events each (python3-evdev: \(Format.grouped(sizes.pythonEvents)) events a round, timed inside Python); the paths take turns within each round, after one unreported warm-up round.",
            "Events are pointer frames of 4 (ABS_X, ABS_Y, MSC_SCAN, SYN_REPORT) on the tablet profile; no reader has the event node open.",
            "Goal: CUInput's batch write ≤ 1.10× the floor per event. \"vs C batch\" is CUInput against a plain-C write(2) of the same batch: the cost of the Swift wrapper itself.",
        ]
        report.print(table)
    }

    // MARK: Latency

    private func latency(device: UInputDevice, fd: Int32, eventNode: String, libevdev: LibevdevDevice) throws {
        let frames = sizes.latencyFrames
        let frame = PointerFrames.kernelEvents(PointerFrames.frame(0))
        func cSender(_ mode: cbench_send_mode, node: String) throws -> [Double] {
            try LatencyProbe.measure(eventNode: node, frames: frames) { ack, sent in
                let result = frame.withUnsafeBufferPointer {
                    cbench_send_frames(mode, fd, libevdev.uinput, $0.baseAddress, $0.count, PointerFrames.sequenceIndex, frames, ack, LatencyProbe.gapNanoseconds, sent)
                }
                guard result == 0 else { throw BenchFailure("sending frames: \(String(cString: strerror(-result)))") }
            }
        }
        func swiftSender() throws -> [Double] {
            try LatencyProbe.measure(eventNode: eventNode, frames: frames) { ack, sent in
                var events = PointerFrames.frame(0)
                for number in 0..<frames {
                    events = PointerFrames.frame(number)
                    sent[number] = Monotonic.nanoseconds
                    try device.write(events)
                    var byte: UInt8 = 0
                    guard read(ack, &byte, 1) == 1 else { throw BenchFailure("the reader stopped acknowledging") }
                    usleep(UInt32(LatencyProbe.gapNanoseconds / 1000))
                }
                events[PointerFrames.sequenceIndex].value = -1
                try device.write(events)
            }
        }

        var samples: [String: [Double]] = [:]
        // Two passes, the paths in turn, so that load from elsewhere falls on all of them alike.
        let passes = 2
        for _ in 0..<passes {
            samples["floor", default: []] += try cSender(CBENCH_SEND_EACH, node: eventNode)
            samples["cbatch", default: []] += try cSender(CBENCH_SEND_BATCH, node: eventNode)
            samples["cuinput", default: []] += try swiftSender()
            samples["libevdev", default: []] += try cSender(CBENCH_SEND_LIBEVDEV, node: libevdev.eventNode)
        }
        var pythonProblem = python.available
        if pythonProblem == nil {
            do {
                samples["python"] = try python.latency(frames: frames)
            } catch {
                pythonProblem = "\(error)"
            }
        }

        let floor = samples["floor"].map { Samples($0) }
        var table = Table("Event injection: write-to-read latency", columns: [
            "path", "frames", "p50 µs", "p99 µs", "p50 vs floor", "p99 vs floor",
        ])
        func row(_ name: String, _ key: String) {
            let measured = samples[key].map { Samples($0) }
            table.add([
                name, String(measured?.count ?? 0), Format.number(measured?.p50), Format.number(measured?.p99),
                Format.ratio(ratio(measured?.p50, floor?.p50)), Format.ratio(ratio(measured?.p99, floor?.p99)),
            ])
        }
        row("floor: C, one write(2) per event", "floor")
        row("C, one write(2) per frame", "cbatch")
        row("**CUInput `UInputDevice.write`, one call per frame**", "cuinput")
        row("`libevdev_uinput_write_event` per event", "libevdev")
        if let pythonProblem {
            table.add(["python3-evdev `UInput.write` per event", "0", "not measured: \(pythonProblem)"])
        } else {
            row("python3-evdev `UInput.write` per event", "python")
        }
        table.add(["fd hand-off", "", "not built yet", "", "", ""])
        table.add(["session-socket injection", "", "not built yet", "", "", ""])
        table.notes = [
            "From CLOCK_MONOTONIC in the sender just before its first write of a frame to CLOCK_MONOTONIC in a thread blocked in read(2) on /dev/input/eventN just after the read returns; frames (4 events) are paired by the number in their MSC_SCAN.",
            "The sender waits for the reader's acknowledgement and \(LatencyProbe.gapNanoseconds / 1000) µs before the next frame, so nothing queues. \(passes) passes of \(Format.grouped(frames)) frames, the paths in turn (python3-evdev: one pass, in its own process).",
        ]
        report.print(table)
    }
}

/// `measured / baseline`, nil when either is missing.
func ratio(_ measured: Double?, _ baseline: Double?) -> Double? {
    guard let measured, let baseline, baseline > 0 else { return nil }
    return measured / baseline
}

extension Samples {
    init(_ values: [Double]) { self.init(values: values) }
}
