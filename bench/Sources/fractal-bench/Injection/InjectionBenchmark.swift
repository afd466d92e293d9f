import CBenchBaselines
import CUInput
import DeviceManager
import FractalSessionClient
import FractalSessionProtocol
import Glibc
import Logging
import SessionServer

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

        // The daemon's side of a session socket, in this process, on the same tablet; `trusted`
        // so that the hand-off includes it (the filter still checks every event's capability).
        let directory = "/tmp/fractal-bench-session-\(getpid())"
        mkdir(directory, 0o700)
        defer { rmdir(directory) }
        // Warnings only: its info lines (socket opened, closed) would land in the report's tables.
        var logger = Logger(label: "fractal.session")
        logger.logLevel = .warning
        let server = try SessionServer(logger: logger)
        server.start()
        defer { server.stop() }
        try server.addLease(SessionLease(
            id: id, policy: .trusted, socketPath: directory + "/input.sock",
            devices: [SessionLease.Device(role: .tablet, name: device.profile.name, nodes: device.nodes.map { LeasedNode(kind: $0.kind.rawValue, path: $0.path, major: $0.major, minor: $0.minor) }, device: device)]))
        let session = try SessionClient(connectingTo: directory + "/input.sock")
        defer { session.close() }
        _ = try session.hello()
        let handed = try session.takeDevices()
        defer { handed.close() }
        guard let handedFD = handed.descriptor(forDevice: 0) else { throw BenchFailure("the session handed off no descriptor for the tablet") }

        try costPerEvent(device: device, fd: fd, libevdev: libevdev, session: session, handedFD: handedFD)
        try latency(device: device, fd: fd, eventNode: eventNode, libevdev: libevdev, session: session, handedFD: handedFD)
    }

    // MARK: Cost per event

    private enum Path: Hashable {
        case floor
        case cBatch(Int)
        case cuinput(Int)
        case libevdev
        case handOff
        case socket(Int)
    }

    /// EVENTS sizes the session socket is measured at: one frame, and a batch of frames.
    static let socketBatchSizes = [4, 64]

    private func costPerEvent(device: UInputDevice, fd: Int32, libevdev: LibevdevDevice, session: SessionClient, handedFD: Int32) throws {
        let count = sizes.injectionEvents
        let events = PointerFrames.events(count)
        let kernelEvents = PointerFrames.kernelEvents(events)
        let chunks = Dictionary(uniqueKeysWithValues: Self.batchSizes.map { size in
            (size, stride(from: 0, to: events.count, by: size).map { Array(events[$0..<min($0 + size, events.count)]) })
        })
        let wireEvents = events.map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }
        let socketChunks = Dictionary(uniqueKeysWithValues: Self.socketBatchSizes.map { size in
            (size, stride(from: 0, to: wireEvents.count, by: size).map { Array(wireEvents[$0..<min($0 + size, wireEvents.count)]) })
        })
        let paths: [Path] = [.floor] + Self.batchSizes.map(Path.cBatch) + Self.batchSizes.map(Path.cuinput) + [.libevdev, .handOff]
            + Self.socketBatchSizes.map(Path.socket)

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
                    case .handOff:
                        failure = cbench_write_each(handedFD, kernel.baseAddress, kernel.count)
                    case .socket(let size):
                        // Sent as fast as the socket takes them; the PING returns once the daemon
                        // has written every batch.
                        for chunk in socketChunks[size]! { try session.send(chunk, toDevice: 0) }
                        try session.ping()
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
        let handOff = Statistics.median(perEvent[.handOff] ?? [])
        report.record(Goal(name: "fd hand-off, per event vs the floor", ratio: ratio(handOff, floor), limit: 1.1))
        row("**fd hand-off**: the client writes to a passed uinput fd, one write(2) per event", "1 per event", handOff)
        for size in Self.socketBatchSizes {
            let ns = Statistics.median(perEvent[.socket(size)] ?? [])
            report.record(Goal(name: "session-socket injection, EVENTS of \(size), per event vs the floor", ratio: ratio(ns, floor), limit: 2.0))
            row("**session-socket injection**, EVENTS of \(size) (client → socket → filter → write(2))", "1 per \(size) events", ns,
                versusBatch: Format.ratio(ratio(ns, Statistics.median(perEvent[.cBatch(size)] ?? []))))
        }
        table.notes = [
            "Median of \(sizes.injectionRounds) rounds of \(Format.grouped(count)) events each (python3-evdev: \(Format.grouped(sizes.pythonEvents)) events a round, timed inside Python); the paths take turns within each round, after one unreported warm-up round.",
            "Events are pointer frames of 4 (ABS_X, ABS_Y, MSC_SCAN, SYN_REPORT) on the tablet profile; no reader has the event node open.",
            "Goal: CUInput's batch write ≤ 1.10× the floor per event. \"vs C batch\" is CUInput against a plain-C write(2) of the same batch: the cost of the Swift wrapper itself.",
            "Session socket: FractalSessionClient in this process sends EVENTS frames to a SessionServer in this process (the daemon's code, policy trusted: capability checks only) over a unix socket; timed from the first send to the PONG after the last batch. Hand-off: the tablet's own uinput fd as GET_FDS passed it. Goals: hand-off ≤ 1.10× the floor, session socket ≤ 2× the floor per event.",
        ]
        report.print(table)
    }

    // MARK: Latency

    private func latency(device: UInputDevice, fd: Int32, eventNode: String, libevdev: LibevdevDevice, session: SessionClient, handedFD: Int32) throws {
        let frames = sizes.latencyFrames
        let frame = PointerFrames.kernelEvents(PointerFrames.frame(0))
        func cSender(_ mode: cbench_send_mode, node: String, fd: Int32 = fd) throws -> [Double] {
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

        func socketSender() throws -> [Double] {
            try LatencyProbe.measure(eventNode: eventNode, frames: frames) { ack, sent in
                var events = PointerFrames.frame(0).map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }
                for number in 0..<frames {
                    events = PointerFrames.frame(number).map { SessionEvent(type: $0.type, code: $0.code, value: $0.value) }
                    sent[number] = Monotonic.nanoseconds
                    try session.send(events, toDevice: 0)
                    var byte: UInt8 = 0
                    guard read(ack, &byte, 1) == 1 else { throw BenchFailure("the reader stopped acknowledging") }
                    usleep(UInt32(LatencyProbe.gapNanoseconds / 1000))
                }
                events[PointerFrames.sequenceIndex].value = -1
                try session.send(events, toDevice: 0)
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
            samples["handoff", default: []] += try cSender(CBENCH_SEND_BATCH, node: eventNode, fd: handedFD)
            samples["socket", default: []] += try socketSender()
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
        row("**fd hand-off**, one write(2) per frame on the passed fd", "handoff")
        row("**session-socket injection**, one EVENTS per frame", "socket")
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
