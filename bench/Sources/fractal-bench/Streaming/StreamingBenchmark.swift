import CBenchBaselines
import DeviceManager
import Foundation
import FractalSessionClient
import FractalSessionProtocol
import Glibc
import Logging
import SessionServer
import Synchronization

/// Section 5: one more lease's write-to-read latency while many others stream through their
/// session sockets, against the floor measured under the same load. The daemon serves every
/// session on one loop; this runs the daemon's SessionServer in this process with one real
/// uinput tablet per lease, so the loop, the filter and the writes are the daemon's own code.
struct StreamingBenchmark {
    let sizes: Sizes
    let report: Report

    /// Each background lease's rate: 1,000 events/s, as one absolute-pointer report (ABS_X, ABS_Y,
    /// SYN_REPORT) every 3 ms, what a 333 Hz pointer sends. No MSC_SCAN, unlike the probe's frames:
    /// the kernel echoes EV_MSC into the uinput fd's read queue, which would wake the server's
    /// feedback reading for every report, and a real pointer sends none.
    static let eventsPerSecond = 1000
    static func report(_ number: Int) -> [SessionEvent] {
        [
            SessionEvent(type: UInt16(EV_ABS), code: UInt16(ABS_X), value: Int32(number & 0xffff)),
            SessionEvent(type: UInt16(EV_ABS), code: UInt16(ABS_Y), value: Int32((number &* 3) & 0xffff)),
            SessionEvent(type: UInt16(EV_SYN), code: UInt16(SYN_REPORT), value: 0),
        ]
    }
    static var framePeriodNanoseconds: Int64 { Int64(1_000_000_000 * report(0).count / eventsPerSecond) }

    func run() throws {
        let directory = "/tmp/fractal-bench-streaming-\(getpid())"
        mkdir(directory, 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "fractal.session")
        logger.logLevel = .warning
        let server = try SessionServer(logger: logger)
        server.start()
        defer { server.stop() }

        // Leases 0..<streamingLeases stream; the last one is the probe.
        var devices: [UInputDevice] = []
        var clients: [SessionClient] = []
        defer {
            for client in clients { client.close() }
            for device in devices { device.close() }
        }
        for index in 0...sizes.streamingLeases {
            let id = FractalID.random()
            let device = try UInputDevice(profile: .tablet, phys: DevicePhys.make(id: id, role: .tablet))
            devices.append(device)
            let socketPath = directory + "/\(index).sock"
            try server.addLease(SessionLease(
                id: id, policy: .standard, socketPath: socketPath,
                devices: [SessionLease.Device(role: .tablet, name: device.profile.name, nodes: device.nodes.map { LeasedNode(kind: $0.kind.rawValue, path: $0.path, major: $0.major, minor: $0.minor) }, device: device)]))
            let client = try SessionClient(connectingTo: socketPath)
            clients.append(client)
            _ = try client.hello()
        }
        if Tool.udevRunning { try Tool.settleUdev() }
        let probe = devices[sizes.streamingLeases], probeClient = clients[sizes.streamingLeases]
        guard let fd = probe.fileDescriptor, let eventNode = probe.eventNode?.path else {
            throw BenchFailure("the probe tablet has no uinput fd or event node")
        }

        let frames = sizes.latencyFrames
        let frame = PointerFrames.kernelEvents(PointerFrames.frame(0))
        func floorPass() throws -> [Double] {
            try LatencyProbe.measure(eventNode: eventNode, frames: frames) { ack, sent in
                let result = frame.withUnsafeBufferPointer {
                    cbench_send_frames(CBENCH_SEND_EACH, fd, nil, $0.baseAddress, $0.count, PointerFrames.sequenceIndex, frames, ack, LatencyProbe.gapNanoseconds, sent)
                }
                guard result == 0 else { throw BenchFailure("sending frames: \(String(cString: strerror(-result)))") }
            }
        }
        func socketPass() throws -> [Double] {
            try LatencyProbe.socketPass(probeClient, eventNode: eventNode, frames: frames)
        }

        // A third as many rounds with nothing streaming, for comparison (no goal).
        var idle = PairedLatency()
        for round in 0..<max(1, sizes.streamingRounds / 3) {
            try idle.add(floorFirst: round % 2 == 0, floor: floorPass, path: socketPass)
        }

        let load = StreamingLoad(clients: Array(clients.prefix(sizes.streamingLeases)), periodNanoseconds: Self.framePeriodNanoseconds)
        load.start()
        // Let the load reach its pace before the first round.
        usleep(500_000)
        var loaded = PairedLatency()
        var measureError: (any Error)?
        do {
            for round in 0..<sizes.streamingRounds {
                try loaded.add(floorFirst: round % 2 == 0, floor: floorPass, path: socketPass)
            }
        } catch {
            measureError = error
        }
        let streamed = load.stop()
        if let measureError { throw measureError }
        if let failure = streamed.failure { throw BenchFailure("a streaming lease's send failed: \(failure)") }

        let floor = Samples(loaded.floor.flatMap { $0 })
        var table = PairedLatency.table(
            "Streaming: one more lease's write-to-read latency while \(sizes.streamingLeases) leases stream \(Format.grouped(Self.eventsPerSecond)) events/s each",
            floor: floor)
        table.rows[0][0] = "floor: C, one write(2) per event, on the probe's tablet, with the \(sizes.streamingLeases) streaming"
        table.add(loaded.row("**session socket of lease \(sizes.streamingLeases + 1), with the \(sizes.streamingLeases) streaming**"))
        let idleFloor = Samples(idle.floor.flatMap { $0 })
        table.add(["floor, nothing streaming", String(idleFloor.count), Format.number(idleFloor.p50), Format.number(idleFloor.p99), "", ""])
        table.add(idle.row("session socket, nothing streaming"))
        let perLease = Double(streamed.frames * Self.report(0).count) / streamed.seconds / Double(max(sizes.streamingLeases, 1))
        table.notes = [
            "\(sizes.streamingLeases) leases plus the probe, each a real uinput tablet with its own session socket (policy default), all served by one SessionServer in this process: the daemon's loop, filter and writes. One sender thread paces the \(sizes.streamingLeases) sockets at one EVENTS message of \(Self.report(0).count) events (ABS_X, ABS_Y, SYN_REPORT: a pointer report) every \(Self.framePeriodNanoseconds / 1000) µs each (clock_nanosleep to absolute deadlines); nothing reads their event nodes. The probe's frames carry their number in an MSC_SCAN, as in the latency table.",
            "Achieved: \(Format.grouped(Int(perLease.rounded()))) events/s per streaming lease (goal pace \(Format.grouped(Self.eventsPerSecond))) over \(Format.number(streamed.seconds)) s; the sender was behind its deadline on \(Format.grouped(streamed.lateTicks)) of \(Format.grouped(streamed.ticks)) ticks. This process used \(Format.number(streamed.cpuShare * 100)) % of one CPU meanwhile (\(Format.number(streamed.cpuNanosecondsPerEvent)) ns per streamed event): the sender thread \(Format.number(streamed.senderShare * 100)) %, the rest (the server's loop, the probe's sender and reader) \(Format.number((streamed.cpuShare - streamed.senderShare) * 100)) %.",
            "\(sizes.streamingRounds) rounds with the load on (and \(max(1, sizes.streamingRounds / 3)) before it started): in each, \(Format.grouped(frames)) frames through the probe's session socket and \(Format.grouped(frames)) through a plain-C floor on the same tablet, back to back, alternating which goes first, measured as in the latency table above; ratios are medians of per-round ratios with their interquartile range.",
            "Goal (issue 14): the probe's p99 ≤ 2× the floor's, with the others streaming.",
        ]
        report.record(Goal(name: "with \(sizes.streamingLeases) leases streaming, one more lease's write-to-read p99 vs the floor", figure: loaded.p99Ratio, limit: 2.0))
        report.print(table)
    }
}

/// One thread sending a frame to every streaming lease's socket each period, until stopped.
final class StreamingLoad: Sendable {
    struct Result {
        var frames: Int
        var ticks: Int
        var lateTicks: Int
        var seconds: Double
        var cpuShare: Double
        var cpuNanosecondsPerEvent: Double
        /// The sender thread's own share of one CPU; the rest of the process's is the server's loop and the probe.
        var senderShare: Double
        var failure: String?
    }

    private let clients: [SessionClient]
    private let period: Int64
    private let stopping = Atomic<Bool>(false)
    private let state = Mutex<(frames: Int, ticks: Int, late: Int, senderCPU: Int64, failure: String?)>((0, 0, 0, 0, nil))
    private let finished = DispatchSemaphore(value: 0)
    private let started = Mutex<(wall: Int64, cpu: Int64)>((0, 0))

    init(clients: [SessionClient], periodNanoseconds: Int64) {
        self.clients = clients
        self.period = periodNanoseconds
    }

    func start() {
        started.withLock { $0 = (Monotonic.nanoseconds, ProcessCPU.nanoseconds) }
        let thread = Thread { [self] in
            let threadCPU = Self.threadCPUNanoseconds
            defer {
                let used = Self.threadCPUNanoseconds - threadCPU
                state.withLock { $0.senderCPU = used }
                finished.signal()
            }
            var deadline = Monotonic.nanoseconds
            var number = 0
            while !stopping.load(ordering: .relaxed) {
                let events = StreamingBenchmark.report(number)
                do {
                    for client in clients { try client.send(events, toDevice: 0) }
                } catch {
                    state.withLock { $0.failure = "\(error)" }
                    return
                }
                number += 1
                deadline += period
                let now = Monotonic.nanoseconds
                let late = now > deadline
                state.withLock {
                    $0.frames += clients.count
                    $0.ticks += 1
                    if late { $0.late += 1 }
                }
                // Behind by more than 100 ms: the pace is lost; start again from now rather than burst.
                if now - deadline > 100_000_000 { deadline = now }
                if !late {
                    var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
                    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil) == EINTR {}
                }
            }
        }
        thread.name = "fractal-bench streaming"
        thread.start()
    }

    /// Stops the sender and returns what it did.
    func stop() -> Result {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
        let (wall, cpu) = started.withLock { $0 }
        let seconds = Double(Monotonic.nanoseconds - wall) / 1e9
        let cpuUsed = Double(ProcessCPU.nanoseconds - cpu)
        return state.withLock { state in
            Result(
                frames: state.frames, ticks: state.ticks, lateTicks: state.late, seconds: seconds, cpuShare: cpuUsed / 1e9 / seconds,
                cpuNanosecondsPerEvent: cpuUsed / Double(max(state.frames * StreamingBenchmark.report(0).count, 1)),
                senderShare: Double(state.senderCPU) / 1e9 / seconds, failure: state.failure)
        }
    }

    /// CPU time of the calling thread.
    private static var threadCPUNanoseconds: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
