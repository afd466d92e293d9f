import CBenchBaselines
import CUInput
import DeviceManager
import Glibc

/// Section pads: what one game-pad frame costs through uhid, where the kernel's own HID driver
/// (hid-playstation, hid-nintendo) parses a 64-byte input report into events, beside the uinput
/// gamepad, where the events go in as they are: wall and CPU time per frame, and the latency
/// from the write to a reader blocked on the pad's gamepad event node. The uinput pad is the
/// baseline; every path is paired with a uinput pass of its own in each round.
struct PadBenchmark {
    let sizes: Sizes
    let report: Report

    /// The paths, each with what it writes per frame.
    private enum Path: Hashable, CaseIterable {
        /// `UInputDevice.write` of the frame's 6 events in one write(2): the baseline.
        case uinput
        /// The same 6 events, one write(2) from plain C.
        case uinputC
        /// `DualSensePad.send`: the report made from `DualSenseInput`, one UHID_INPUT2 write.
        case dualSense
        /// The same reports, made beforehand, one UHID_INPUT2 write(2) each from plain C.
        case dualSenseC
        case switchPro
        case switchProC
    }

    /// The uhid pads and the uinput gamepad, with everything each path sends made beforehand.
    private struct Pads {
        let uinput: UInputDevice
        let uinputFD: Int32
        let dualSense: DualSensePad
        let dualSenseFD: Int32
        let switchPro: SwitchProPad
        let switchProFD: Int32
    }

    func run() throws {
        let id = FractalID.random()
        let uinput = try UInputDevice(profile: .gamepad, phys: DevicePhys.make(id: id, role: .gamepad))
        defer { uinput.close() }
        let dualSense = try DualSensePad(phys: DualSensePad.phys(id: id))
        defer { dualSense.close() }
        let switchPro = try SwitchProPad(phys: SwitchProPad.phys(id: id))
        defer { switchPro.close() }
        guard let uinputFD = uinput.fileDescriptor, let dualSenseFD = dualSense.fileDescriptor, let switchProFD = switchPro.fileDescriptor else {
            throw BenchFailure("a pad has no descriptor")
        }
        // Outputs are read and dropped: nothing here plays rumble or sets LEDs.
        let serving = try PadServing([
            PadServing.Pad(name: "DualSense", fd: dualSenseFD) { _ = try dualSense.serve() },
            PadServing.Pad(name: "Switch Pro", fd: switchProFD) { _ = try switchPro.serve() },
        ])
        defer { serving.stop() }
        if Tool.udevRunning { try Tool.settleUdev() }

        let pads = Pads(
            uinput: uinput, uinputFD: uinputFD, dualSense: dualSense, dualSenseFD: dualSenseFD, switchPro: switchPro, switchProFD: switchProFD)
        try cost(pads)
        try latency(pads)
        if let failure = serving.failure { throw BenchFailure(failure) }
    }

    // MARK: Cost per frame

    /// One pass's cost per frame: wall time, and CPU time of this whole process.
    private struct Cost {
        var wall: Double
        var cpu: Double
    }

    private func cost(_ pads: Pads) throws {
        let frames = sizes.padFrames
        let uinputFrames = (0..<frames).map(PadFrames.uinput)
        let kernelEvents = PointerFrames.kernelEvents(uinputFrames.flatMap { $0 })
        let dualSenseInputs = (0..<frames).map(PadFrames.dualSense)
        let switchProInputs = (0..<frames).map(PadFrames.switchPro)
        // The reports as the pads make them, numbered as they would be.
        let dualSenseReports = dualSenseInputs.enumerated().flatMap { $1.report(sequence: UInt8(truncatingIfNeeded: $0)) }
        let switchProReports = switchProInputs.enumerated().flatMap { $1.report(timer: UInt8(truncatingIfNeeded: $0)) }
        let reportSize = DualSenseReports.inputReportSize
        guard SwitchProReports.inputReportSize == reportSize else { throw BenchFailure("the pads' reports differ in size") }

        func once(_ path: Path) throws -> Cost {
            var failure: Int32 = 0
            let cpu = ProcessCPU.nanoseconds
            let start = Monotonic.nanoseconds
            switch path {
            case .uinput:
                for frame in uinputFrames { try pads.uinput.write(frame) }
            case .uinputC:
                failure = kernelEvents.withUnsafeBufferPointer {
                    cbench_write_batches(pads.uinputFD, $0.baseAddress, $0.count, PadFrames.uinputEventsPerFrame)
                }
            case .dualSense:
                for input in dualSenseInputs { try pads.dualSense.send(input) }
            case .dualSenseC:
                failure = dualSenseReports.withUnsafeBufferPointer {
                    cbench_uhid_write_reports(pads.dualSenseFD, $0.baseAddress, reportSize, frames)
                }
            case .switchPro:
                for input in switchProInputs { try pads.switchPro.send(input) }
            case .switchProC:
                failure = switchProReports.withUnsafeBufferPointer {
                    cbench_uhid_write_reports(pads.switchProFD, $0.baseAddress, reportSize, frames)
                }
            }
            let wall = Double(Monotonic.nanoseconds - start), used = Double(ProcessCPU.nanoseconds - cpu)
            guard failure == 0 else { throw BenchFailure("\(path): write failed: \(String(cString: strerror(-failure)))") }
            return Cost(wall: wall / Double(frames), cpu: used / Double(frames))
        }

        // Each round measures every path next to a uinput pass of its own (alternating which
        // goes first), in a rotating order, as the injection section does with its floor.
        let paired = Path.allCases.filter { $0 != .uinput }
        var measured: [Path: [Cost]] = [:]
        var baseline: [Path: [Cost]] = [:]
        for round in 0..<(sizes.injectionRounds + 1) {
            for offset in paired.indices {
                let index = (offset + round) % paired.count, path = paired[index]
                let baselineFirst = (round + index) % 2 == 0
                var uinput: Cost?
                if baselineFirst { uinput = try once(.uinput) }
                let cost = try once(path)
                if !baselineFirst { uinput = try once(.uinput) }
                // Round 0 warms caches and the kernel's paths; it is not reported.
                if round > 0, let uinput {
                    measured[path, default: []].append(cost)
                    baseline[path, default: []].append(uinput)
                }
            }
        }
        let delivered = try eventsDelivered(pads)

        let baselines = baseline.values.flatMap { $0 }
        func median(_ path: Path, _ value: KeyPath<Cost, Double>) -> Double? {
            Statistics.median(path == .uinput ? baselines.map { $0[keyPath: value] } : measured[path]?.map { $0[keyPath: value] } ?? [])
        }
        func versusUInput(_ path: Path, _ value: KeyPath<Cost, Double>) -> Spread? {
            Spread.interquartile(Statistics.pairedRatios(
                measured[path]?.map { $0[keyPath: value] } ?? [], baseline[path]?.map { $0[keyPath: value] } ?? []))
        }
        var table = Table("Game pads: cost per frame, uhid beside uinput", columns: [
            "path", "written per frame", "µs/frame", "CPU µs/frame", "frames/s", "vs uinput pad (paired rounds)", "CPU vs uinput pad",
            "vs C write of the same frame", "events delivered per frame",
        ])
        func row(_ name: String, _ written: String, _ path: Path, versusC: Path? = nil) {
            let wall = median(path, \.wall)
            let paired = path == .uinput
            table.add([
                name, written, Format.number(wall.map { $0 / 1000 }), Format.number(median(path, \.cpu).map { $0 / 1000 }),
                Format.number(wall.map { 1e9 / $0 }),
                paired ? "1.00×" : Format.ratio(versusUInput(path, \.wall)), paired ? "1.00×" : Format.ratio(versusUInput(path, \.cpu)),
                versusC.map { Format.ratio(ratio(wall, median($0, \.wall))) } ?? "", delivered[path] ?? "",
            ])
        }
        let events = "\(PadFrames.uinputEventsPerFrame) events (\(PadFrames.uinputEventsPerFrame * 24) bytes), one write(2)"
        let uhidReport = "a \(reportSize)-byte report, one UHID_INPUT2 write(2)"
        row("**uinput gamepad** (the baseline): `UInputDevice.write`", events, .uinput, versusC: .uinputC)
        row("uinput gamepad: plain C", events, .uinputC)
        row("**DualSense through uhid**: `DualSensePad.send`", uhidReport, .dualSense, versusC: .dualSenseC)
        row("DualSense through uhid: plain C, reports made beforehand", uhidReport, .dualSenseC)
        row("**Switch Pro through uhid**: `SwitchProPad.send`", uhidReport, .switchPro, versusC: .switchProC)
        row("Switch Pro through uhid: plain C, reports made beforehand", uhidReport, .switchProC)
        table.notes = [
            "A frame moves both sticks and presses or releases BTN_SOUTH (cross on the DualSense, B on the Switch Pro): the uinput gamepad gets ABS_X, ABS_Y, ABS_RX, ABS_RY, BTN_SOUTH and SYN_REPORT in one write(2); a uhid pad gets one input report (the DualSense's 0x01, the Switch Pro's full 0x30) in one UHID_INPUT2 write(2), which hid-playstation or hid-nintendo parses into events on each of the pad's input devices before the write returns. Frames alternate between two states, so every frame changes every value; no reader has any node open.",
            "\(sizes.injectionRounds) rounds of \(Format.grouped(sizes.padFrames)) frames a path, after one unreported warm-up round. In each round every path is measured back to back with a uinput pass of its own (`UInputDevice.write`), alternating which goes first, the paths in a rotating order; \"vs uinput pad\" is the median of those per-round ratios with their interquartile range. µs/frame is the median round; the baseline row pools every uinput pass.",
            "CPU is this process's CPU time (user + system, CLOCK_PROCESS_CPUTIME_ID) over the pass. The kernel parses a report and delivers its events in the writer's own write(2), so that work is the writer's system time and counts here. A thread of this process serves the pads' uhid descriptors (the drivers' requests) in poll(2), as the daemon's loop does; nothing here asks for an answer, so it sleeps through the passes.",
            "\"vs C write\" is a path against plain C writing the same frame with nothing around the call (medians): the wrapper's own cost, making the report included. \"Events delivered per frame\" counts what a reader of each of the pad's event nodes receives, SYN_REPORT included, over \(Self.countedFrames) frames (`uhid` pads report every sensor each frame; unchanged values are dropped by the input core before they reach a reader).",
        ]
        report.print(table)
    }

    /// Frames sent while counting what each node delivers.
    static let countedFrames = 16

    /// What a reader of each event node of each pad receives per frame, as "gamepad 6, motion 2".
    private func eventsDelivered(_ pads: Pads) throws -> [Path: String] {
        func count(_ nodes: [(String, [DeviceNode])], send: (Int) throws -> Void) throws -> String {
            let opened = try nodes.compactMap { name, nodes -> (String, Int32)? in
                guard let node = nodes.first(where: { $0.kind == .event }) else { return nil }
                let fd = open(node.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
                guard fd >= 0 else { throw BenchFailure("open \(node.path): \(String(cString: strerror(errno)))") }
                return (name, fd)
            }
            defer { for (_, fd) in opened { close(fd) } }
            for number in 0..<Self.countedFrames { try send(number) }
            return opened.map { name, fd in
                var total = 0
                var events = [input_event](repeating: input_event(), count: 64)
                while true {
                    let got = events.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    guard got > 0 else { break }
                    total += got / MemoryLayout<input_event>.stride
                }
                let perFrame = total % Self.countedFrames == 0
                    ? String(total / Self.countedFrames) : Format.number(Double(total) / Double(Self.countedFrames))
                return "\(name) \(perFrame)"
            }.joined(separator: ", ")
        }
        let uinput = try count([("gamepad", pads.uinput.nodes)]) { try pads.uinput.write(PadFrames.uinput($0)) }
        let dualSense = try count([
            ("gamepad", pads.dualSense.nodes.gamepad), ("motion", pads.dualSense.nodes.motionSensors), ("touchpad", pads.dualSense.nodes.touchpad),
        ]) { try pads.dualSense.send(PadFrames.dualSense($0)) }
        let switchPro = try count([("gamepad", pads.switchPro.nodes.gamepad), ("IMU", pads.switchPro.nodes.imu)]) {
            try pads.switchPro.send(PadFrames.switchPro($0))
        }
        return [.uinput: uinput, .dualSense: dualSense, .switchPro: switchPro]
    }

    // MARK: Latency

    private func latency(_ pads: Pads) throws {
        let frames = sizes.latencyFrames
        guard let uinputNode = pads.uinput.eventNode?.path,
              let dualSenseNode = pads.dualSense.nodes.gamepad.first(where: { $0.kind == .event })?.path,
              let switchProNode = pads.switchPro.nodes.gamepad.first(where: { $0.kind == .event })?.path else {
            throw BenchFailure("a pad has no gamepad event node")
        }

        // One pass: the pad is put at rest first (before the reader opens the node), so that
        // the first frame changes ABS_X, which the reader counts frames by.
        func pass(_ node: String, rest: () throws -> Void, send: (Int) throws -> Void) throws -> [Double] {
            try rest()
            return try LatencyProbe.measure(eventNode: node, frames: frames, countingAxis: UInt16(ABS_X)) { ack, sent in
                for number in 0..<frames {
                    sent[number] = Monotonic.nanoseconds
                    try send(number)
                    try Self.awaitAcknowledgement(ack, frame: number, node: node)
                    usleep(UInt32(LatencyProbe.gapNanoseconds / 1000))
                }
            }
        }
        let uinputPass = {
            try pass(uinputNode, rest: { try pads.uinput.write(PadFrames.uinputNeutral) }) { try pads.uinput.write(PadFrames.uinput($0)) }
        }
        let paths: [(name: String, pass: () throws -> [Double])] = [
            ("**DualSense through uhid**: `DualSensePad.send`", {
                try pass(dualSenseNode, rest: { try pads.dualSense.send(PadFrames.dualSenseNeutral) }) { try pads.dualSense.send(PadFrames.dualSense($0)) }
            }),
            ("**Switch Pro through uhid**: `SwitchProPad.send`", {
                try pass(switchProNode, rest: { try pads.switchPro.send(PadFrames.switchProNeutral) }) { try pads.switchPro.send(PadFrames.switchPro($0)) }
            }),
        ]
        var rounds = [PairedLatency](repeating: PairedLatency(), count: paths.count)
        for round in 0..<sizes.latencyRounds {
            for offset in paths.indices {
                let index = (offset + round) % paths.count
                try rounds[index].add(floorFirst: (round + index) % 2 == 0, floor: uinputPass, path: paths[index].pass)
            }
        }

        let baseline = Samples(rounds.flatMap { $0.floor.flatMap { $0 } })
        var table = Table("Game pads: write-to-read latency at the gamepad's event node, uhid beside uinput", columns: [
            "path", "frames", "p50 µs", "p99 µs", "p50 vs uinput pad (paired rounds)", "p99 vs uinput pad (paired rounds)",
        ])
        table.add(["**uinput gamepad** (the baseline): `UInputDevice.write`, one write(2) per frame", String(baseline.count),
                   Format.number(baseline.p50), Format.number(baseline.p99), "1.00×", "1.00×"])
        for (path, paired) in zip(paths, rounds) { table.add(paired.row(path.name)) }
        table.notes = [
            "From CLOCK_MONOTONIC in the sender just before it writes a frame (a uinput frame of 6 events, or one input report) to CLOCK_MONOTONIC in a thread blocked in read(2) on the pad's gamepad event node just after the read that returns the frame's ABS_X; frames are counted in order, each changing ABS_X, since a pad's events carry no number of ours.",
            "The sender waits for the reader's acknowledgement (at the frame's SYN_REPORT) and \(LatencyProbe.gapNanoseconds / 1000) µs before the next frame, so nothing queues. \(sizes.latencyRounds) rounds; in each, every uhid pad sends \(Format.grouped(frames)) frames back to back with \(Format.grouped(frames)) through the uinput gamepad (alternating which goes first), p50 and p99 taken within each pass; the ratios are the medians of those per-round ratios with their interquartile range. p50 µs and p99 µs pool every pass of a path (the baseline row: every uinput pass). No goal: issue 13 asks for the figures side by side.",
        ]
        report.print(table)
    }

    /// Waits up to 10 s for the reader to acknowledge `frame`: a frame that never arrives fails
    /// the pass, naming it, instead of blocking the run.
    private static func awaitAcknowledgement(_ fd: Int32, frame: Int, node: String) throws {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&entry, 1, 10_000) } while ready < 0 && errno == EINTR
        guard ready > 0 else { throw BenchFailure("\(node): frame \(frame) did not arrive within 10 s") }
        var byte: UInt8 = 0
        guard read(fd, &byte, 1) == 1 else { throw BenchFailure("\(node): the reader stopped acknowledging") }
    }
}
