import FractalAPI
import FractalClient
import Foundation
import Glibc

/// Section 6: bursts of concurrent lease requests (default devices) while every CPU is kept busy,
/// as a fleet restart or a rush of players makes them: how many fail, how long until the last
/// answer, and that against the same leases made one after another under the same load.
struct BurstBenchmark {
    let sizes: Sizes
    let binaries: String
    let report: Report

    /// The daemon's --max-leases here, so that only the kernel and udevd limit a burst.
    static let maximumLeases = 1024

    /// One burst: when its last answer came, and what failed.
    private struct Burst {
        var size: Int
        var milliseconds: Double
        /// Error text, for each request that failed.
        var failures: [String]
        /// The daemon's queue metrics after the burst (whatever lines of /metrics name a queue).
        var queueMetrics: [String]
    }

    func run() async throws {
        guard Tool.udevRunning else { throw BenchFailure("no udevd runs: the burst section measures leases that wait for it") }
        let daemon = try BenchDaemon(binaries: binaries, maximumLeases: Self.maximumLeases)
        // A last answer may come minutes after the burst began under this load.
        let client = FractalClient(socketPath: daemon.socketPath, timeout: .seconds(900))
        var load: BusyLoad?
        do {
            for _ in 0..<3 { _ = try await LeaseBenchmark.leaseThroughDaemon(client) }
            load = try BusyLoad(processes: ProcessInfo.processInfo.activeProcessorCount)
            try await measure(client)
        } catch {
            load?.stop()
            await client.shutdown()
            await daemon.finish()
            throw error
        }
        load?.stop()
        await client.shutdown()
        await daemon.finish()
    }

    private func measure(_ client: FractalClient) async throws {
        let first = sizes.burstSizes[0]
        var sequential: [Double] = []
        var paired: [Burst] = []
        // Each round: the sequential leases and the first burst size, back to back, alternating which goes first.
        for round in 0..<sizes.burstRounds {
            if round % 2 == 1 { paired.append(try await burst(client, size: first)) }
            sequential.append(try await self.sequential(client))
            if round % 2 == 0 { paired.append(try await burst(client, size: first)) }
        }
        let larger = try await sizes.burstSizes.dropFirst().asyncMap { try await burst(client, size: $0) }

        let sequentialTotal = Statistics.median(sequential)
        let perRound = zip(paired, sequential).map { burst, sequential in
            burst.milliseconds / (sequential * Double(burst.size) / Double(sizes.sequentialLeases))
        }
        var table = Table("Burst: concurrent lease requests (default devices) with every CPU busy", columns: [
            "requests", "rounds", "failed", "time to the last answer ms", "vs \(sizes.sequentialLeases) sequential", "per lease vs sequential",
        ])
        table.add([
            "\(sizes.sequentialLeases) one after another (the baseline)", String(sequential.count), "0",
            Format.number(sequentialTotal), "1.00×", "1.00×",
        ])
        func add(_ bursts: [Burst], perLease: String) {
            guard let size = bursts.first?.size else { return }
            let time = Statistics.median(bursts.map(\.milliseconds))
            table.add([
                "**\(size) at once**", String(bursts.count), String(bursts.map(\.failures.count).reduce(0, +)),
                Format.number(time), Format.ratio(ratio(time, sequentialTotal)), perLease,
            ])
        }
        add(paired, perLease: Format.ratio(Spread.interquartile(perRound)))
        for burst in larger {
            add([burst], perLease: Format.ratio(ratio(burst.milliseconds / Double(burst.size), sequentialTotal.map { $0 / Double(sizes.sequentialLeases) })))
        }
        // One goal a size: every failure over its rounds counts.
        report.record(Goal(name: "burst of \(first) concurrent lease requests, CPUs busy: failures", figure: Spread.single(Double(paired.map(\.failures.count).reduce(0, +))), limit: 0, unit: .failures))
        for burst in larger {
            report.record(Goal(name: "burst of \(burst.size) concurrent lease requests, CPUs busy: failures", figure: Spread.single(Double(burst.failures.count)), limit: 0, unit: .failures))
        }

        var notes = [
            "\(ProcessInfo.processInfo.activeProcessorCount) busy-loop processes (one per vCPU, `sh -c 'while :; do :; done'`) run throughout, the baseline included. Each request is FractalClient.createLease with the default devices (keyboard, mouse, tablet), all issued at once from one process; the time runs from the first request to the last answer, failed or not. Then every lease is released (untimed) and `udevadm settle` runs.",
            "Baseline: \(sizes.sequentialLeases) leases one after another, from the first request to the last answer. \"vs sequential\" is the burst's time over the baseline's median; \"per lease\" scales the baseline to the burst's size (time per lease against time per lease), for the first size as the median of per-round ratios (the burst and the baseline back to back, alternating which goes first) with their interquartile range.",
            "Goal (issue 14): no failures; a burst queues in the daemon instead of running into udevd's deadline.",
        ]
        for burst in paired + larger where !burst.failures.isEmpty {
            let counted = Dictionary(grouping: burst.failures, by: { String($0.prefix(200)) }).map { ($0.key, $0.value.count) }.sorted { $0.1 > $1.1 }
            notes.append("Burst of \(burst.size): " + counted.prefix(3).map { "\($0.1) × \($0.0)" }.joined(separator: "; "))
        }
        for burst in paired.prefix(1) + larger where !burst.queueMetrics.isEmpty {
            notes.append("The daemon's queue metrics after a burst of \(burst.size): `" + burst.queueMetrics.joined(separator: "`, `") + "`")
        }
        table.notes = notes
        report.print(table)
    }

    /// `size` lease requests at once; returns when every one is answered, with every lease released again.
    private func burst(_ client: FractalClient, size: Int) async throws -> Burst {
        let start = Monotonic.nanoseconds
        let answers = await withTaskGroup(of: Result<String, BurstError>.self) { group in
            for _ in 0..<size {
                group.addTask {
                    do {
                        return .success(try await client.createLease(CreateLeaseRequest()).id.rawValue)
                    } catch {
                        return .failure(BurstError(description: "\(error)"))
                    }
                }
            }
            var answers: [Result<String, BurstError>] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        let milliseconds = Double(Monotonic.nanoseconds - start) / 1e6
        let metrics = (try? await client.metrics()) ?? ""
        let queue = metrics.split(separator: "\n").filter { !$0.hasPrefix("#") && ($0.contains("queue") || $0.contains("admission")) }.map(String.init)
        try await releaseAll(client)
        var failures: [String] = []
        for answer in answers {
            if case .failure(let error) = answer { failures.append(error.description) }
        }
        return Burst(size: size, milliseconds: milliseconds, failures: failures, queueMetrics: queue)
    }

    /// The baseline: `sequentialLeases` leases one after another; the time to the last answer.
    private func sequential(_ client: FractalClient) async throws -> Double {
        let start = Monotonic.nanoseconds
        for _ in 0..<sizes.sequentialLeases { _ = try await client.createLease(CreateLeaseRequest()) }
        let milliseconds = Double(Monotonic.nanoseconds - start) / 1e6
        try await releaseAll(client)
        return milliseconds
    }

    /// Releases every lease the daemon holds (some may have been made after their request gave up).
    private func releaseAll(_ client: FractalClient) async throws {
        let held = try await client.leases()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lease in held {
                group.addTask { _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false) }
            }
            try await group.waitForAll()
        }
        try Tool.settleUdev()
    }
}

private struct BurstError: Error, CustomStringConvertible {
    var description: String
}

/// Busy-loop processes that keep every CPU of the VM busy until stopped.
final class BusyLoad {
    private let processes: [Process]

    init(processes count: Int) throws {
        var started: [Process] = []
        for _ in 0..<count {
            let process = Process()
            process.executableURL = URL(filePath: "/bin/sh")
            process.arguments = ["-c", "while :; do :; done"]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                for process in started { Self.end(process) }
                throw BenchFailure("starting a busy loop: \(error)")
            }
            started.append(process)
        }
        processes = started
    }

    deinit { stop() }

    func stop() {
        for process in processes { Self.end(process) }
    }

    private static func end(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

extension Sequence {
    /// `transform` on each element in turn.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
