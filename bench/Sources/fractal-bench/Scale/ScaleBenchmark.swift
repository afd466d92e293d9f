import DeviceManager
import FractalAPI
import FractalClient
import Foundation

/// Section 4: lease latency with many live leases, what each live lease costs the daemon in
/// memory and file descriptors, how long releasing them takes, and where the kernel says no.
struct ScaleBenchmark {
    let sizes: Sizes
    let binaries: String
    let report: Report

    /// The daemon's --max-leases here: the most it accepts, so the kernel runs out first.
    static let maximumLeases = 1024

    private struct Level {
        var live: Int
        var background: String
        var samples: Samples
        var usage: ProcessUsage
    }

    private struct Refusal {
        var leases: Int
        var devices: Int
        var minors: (event: Int, mouse: Int, joystick: Int)
        var apiError: String
        var devicectlOutput: String
    }

    func run() async throws {
        guard Tool.udevRunning else { throw BenchFailure("no udevd runs: the scale section measures leases that wait for it") }
        let daemon = try BenchDaemon(binaries: binaries, maximumLeases: Self.maximumLeases)
        do {
            try await measure(daemon)
        } catch {
            await daemon.finish()
            throw error
        }
        await daemon.finish()
    }

    private func measure(_ daemon: BenchDaemon) async throws {
        let client = daemon.client
        for _ in 0..<3 { _ = try await LeaseBenchmark.leaseThroughDaemon(client) }
        let idle = try ProcessUsage(pid: daemon.pid)

        var levels: [Level] = []
        var held: [String] = []
        var refusal: Refusal?
        var unreached: [Int] = []
        // Default leases (keyboard, mouse, tablet) up to each level, while the kernel lets us.
        for level in sizes.scaleLevels.sorted() {
            if refusal != nil {
                unreached.append(level)
                continue
            }
            refusal = try await fill(client, to: level - 1, held: &held, roles: nil)
            if refusal != nil {
                unreached.append(level)
                continue
            }
            levels.append(try await measureLevel(daemon, live: level, background: "default leases"))
        }
        if sizes.findLimit && refusal == nil {
            refusal = try await fill(client, to: Self.maximumLeases, held: &held, roles: nil)
        }
        let heldDefault = held.count
        let releaseDefault = try await releaseAll(client, &held)

        // Levels the default leases cannot reach: hold keyboard-only leases (one input minor each)
        // instead, and time default leases on top of them.
        var releaseKeyboards: (count: Int, milliseconds: Double)?
        if !unreached.isEmpty {
            for level in unreached {
                if let stop = try await fill(client, to: level - 1, held: &held, roles: [DeviceRole.keyboard.rawValue]) {
                    throw BenchFailure("\(level - 1) keyboard-only leases were refused at \(stop.leases): \(stop.apiError)")
                }
                levels.append(try await measureLevel(daemon, live: level, background: "keyboard-only leases"))
            }
            releaseKeyboards = try await releaseAll(client, &held)
        }

        var table = Table("Scale: lease latency, memory and descriptors with many live leases", columns: [
            "live leases", "held besides the timed one", "lease p50 ms", "lease p99 ms", "p50 vs 1 live",
            "daemon RSS MiB", "RSS per held lease KiB", "open fds", "fds per held lease",
        ])
        table.add(["0 (idle)", "—", "—", "—", "—", Format.number(Double(idle.residentKiB) / 1024), "—", String(idle.openFDs), "—"])
        let single = levels.first { $0.live == 1 }?.samples.p50
        for level in levels {
            let held = level.live - 1
            table.add([
                String(level.live), held == 0 ? "none" : "\(held) \(level.background)",
                Format.number(level.samples.p50), Format.number(level.samples.p99), Format.ratio(ratio(level.samples.p50, single)),
                Format.number(Double(level.usage.residentKiB) / 1024),
                held == 0 ? "—" : Format.number(Double(level.usage.residentKiB - idle.residentKiB) / Double(held)),
                String(level.usage.openFDs),
                held == 0 ? "—" : Format.number(Double(level.usage.openFDs - idle.openFDs) / Double(held)),
            ])
        }
        table.notes = [
            "At each level the daemon holds that many leases less one (made \(Self.fillWidth) at a time, untimed), and \(sizes.scaleSamples) more default leases (keyboard, mouse, tablet) are each created (timed), released and settled in turn; RSS (VmRSS) and fds (/proc/PID/fd) are read with the held leases only.",
            "The daemon runs with --max-leases \(Self.maximumLeases) (the most it accepts). The limit is where one request on its own is refused."
                + (unreached.isEmpty ? "" : " Levels \(unreached.map(String.init).joined(separator: ", ")) cannot be reached with default leases (the kernel runs out of input minors first, see below), so there the held leases are keyboard-only (one event node each)."),
        ]
        report.print(table)

        var release = Table("Scale: releasing every held lease, one `DELETE /v1/leases/{id}` after another", columns: [
            "leases", "devices each", "total ms", "per lease ms",
        ])
        if releaseDefault.count > 0 {
            release.add(["\(releaseDefault.count) (\(heldDefault) held)", "3", Format.number(releaseDefault.milliseconds), Format.number(releaseDefault.milliseconds / Double(releaseDefault.count))])
        }
        if let releaseKeyboards, releaseKeyboards.count > 0 {
            release.add([String(releaseKeyboards.count), "1 (keyboard)", Format.number(releaseKeyboards.milliseconds), Format.number(releaseKeyboards.milliseconds / Double(releaseKeyboards.count))])
        }
        release.notes = ["Timed from the first request to the last answer; udevd's work on the removals is not waited for."]
        report.print(release)

        var limit = Table("Scale: where the kernel says no (default leases, --max-leases \(Self.maximumLeases))", columns: [
            "live leases", "devices", "input minors in use (event + mouse + js)", "what the client is told",
        ])
        if let refusal {
            limit.add([
                String(refusal.leases), String(refusal.devices),
                "\(refusal.minors.event + refusal.minors.mouse + refusal.minors.joystick) (\(refusal.minors.event) + \(refusal.minors.mouse) + \(refusal.minors.joystick))",
                refusal.apiError,
            ])
            limit.notes = ["`devicectl create` at that point prints: `" + refusal.devicectlOutput.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " ⏎ ") + "`"]
        } else {
            limit.add(["not looked for" + (sizes.findLimit ? "" : " (--quick)"), "", "", ""])
        }
        report.print(limit)
    }

    /// Creates leases until `count` are held, a few at a time (these are not timed); returns the
    /// refusal if the daemon refuses first. After a refusal among concurrent requests it goes on one
    /// at a time (the failed ones' devices may have been in the way of the others), so the count is
    /// where a lone request is refused.
    private func fill(_ client: FractalClient, to count: Int, held: inout [String], roles: [String]?) async throws -> Refusal? {
        var width = Self.fillWidth
        var refused: FractalClientError?
        while held.count < count {
            let batch = min(width, count - held.count)
            let outcomes = await withTaskGroup(of: Result<String, any Error>.self) { group in
                for _ in 0..<batch {
                    group.addTask {
                        do {
                            return .success(try await client.createLease(CreateLeaseRequest(devices: roles)).id.rawValue)
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                var outcomes: [Result<String, any Error>] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            refused = nil
            for outcome in outcomes {
                switch outcome {
                case .success(let id):
                    held.append(id)
                case .failure(let error as FractalClientError) where error.status != nil:
                    refused = refused ?? error
                case .failure(let error):
                    throw error
                }
            }
            if refused != nil {
                if width == 1 { break }
                width = 1
            }
        }
        guard let refused else { return nil }
        // What a person sees at that point: devicectl asking for one more lease.
        let probe = "bench-limit-probe"
        var (status, output) = try Tool.run([binaries + "/devicectl", "create", "--id", probe, "--socket", client.socketPath])
        if status == 0 {
            _ = try? await client.releaseLease(probe, keepDirectories: false)
            output = "(devicectl create succeeded after all)"
        }
        return Refusal(
            leases: held.count, devices: held.count * (roles?.count ?? 3), minors: Self.inputMinors(),
            apiError: refused.description, devicectlOutput: output)
    }

    /// How many untimed background leases are requested at once.
    static let fillWidth = 4

    private func measureLevel(_ daemon: BenchDaemon, live: Int, background: String) async throws -> Level {
        try Tool.settleUdev()
        let usage = try ProcessUsage(pid: daemon.pid)
        var samples = Samples()
        for _ in 0..<sizes.scaleSamples { samples.append(try await LeaseBenchmark.leaseThroughDaemon(daemon.client).create) }
        return Level(live: live, background: background, samples: samples, usage: usage)
    }

    private func releaseAll(_ client: FractalClient, _ held: inout [String]) async throws -> (count: Int, milliseconds: Double) {
        let count = held.count
        let start = Monotonic.nanoseconds
        for id in held { _ = try await client.releaseLease(id, keepDirectories: false) }
        let milliseconds = Double(Monotonic.nanoseconds - start) / 1e6
        held.removeAll()
        try Tool.settleUdev()
        return (count, milliseconds)
    }

    /// The input handlers' nodes that exist now, by kind.
    static func inputMinors() -> (event: Int, mouse: Int, joystick: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/input")) ?? []
        return (
            names.filter { $0.hasPrefix("event") }.count,
            names.filter { $0.hasPrefix("mouse") || $0 == "mice" }.count,
            names.filter { $0.hasPrefix("js") }.count
        )
    }
}
