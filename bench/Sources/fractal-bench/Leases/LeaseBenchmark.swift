import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Glibc

/// Section 2: from `POST /v1/leases` to udev-initialised devices, through the real daemon,
/// against creating the same three devices directly and waiting for udevd, in the same run;
/// and releasing them again, against closing them.
struct LeaseBenchmark {
    let sizes: Sizes
    let binaries: String
    let report: Report

    /// The default devices of a lease.
    static let roles: [DeviceRole] = [.keyboard, .mouse, .tablet]
    /// What the original Fractal host service took for the same three devices: a fixed 200 ms
    /// sleep after each.
    static let originalMilliseconds = 600.0

    /// One sample: making the devices, and getting rid of them again, in milliseconds.
    struct Timing {
        var create: Double
        var release: Double
    }

    func run() async throws {
        guard Tool.udevRunning else { throw BenchFailure("no udevd runs: the lease section measures the wait for it") }
        let daemon = try BenchDaemon(binaries: binaries)
        do {
            try await measure(daemon)
        } catch {
            await daemon.finish()
            throw error
        }
        await daemon.finish()
    }

    private func measure(_ daemon: BenchDaemon) async throws {
        // Warm-up: the daemon's first requests open connections and fill caches.
        for _ in 0..<3 {
            _ = try await Self.leaseThroughDaemon(daemon.client)
            _ = try Self.bare()
        }
        var leased: [Timing] = []
        var bare: [Timing] = []
        var daemonCPU: [Double] = []
        // Each round makes one lease through the daemon and one bare, back to back, alternating
        // which goes first, so load from the host's other work falls on both alike.
        for index in 0..<sizes.leaseSamples {
            if index % 2 == 1 { bare.append(try Self.bare()) }
            let cpu = try ProcessUsage.cpuMilliseconds(pid: daemon.pid)
            leased.append(try await Self.leaseThroughDaemon(daemon.client))
            daemonCPU.append(try ProcessUsage.cpuMilliseconds(pid: daemon.pid) - cpu)
            if index % 2 == 0 { bare.append(try Self.bare()) }
        }
        let leasedCreate = Samples(leased.map(\.create)), bareCreate = Samples(bare.map(\.create))
        let leasedRelease = Samples(leased.map(\.release)), bareRelease = Samples(bare.map(\.release))
        let p50Ratio = Spread.medianBootstrap(Statistics.pairedRatios(leasedCreate.values, bareCreate.values))
        let p99Ratio = Spread.percentileRatio(leasedCreate.values, bareCreate.values, 99)
        let cpuPerLease = Spread.bootstrap(rounds: daemonCPU.count) { Statistics.mean($0.map { daemonCPU[$0] }) }

        var table = Table("Lease latency: request to udev-initialised devices (keyboard, mouse, tablet)", columns: [
            "path", "leases", "p50 ms", "p99 ms", "vs bare, per round (p50 goal)", "p99 vs bare", "p50 vs original 600 ms", "daemon CPU per lease",
        ])
        table.add([
            "**fractal-agent: `POST /v1/leases` → 201, udev initialised**", String(leasedCreate.count),
            Format.number(leasedCreate.p50), Format.number(leasedCreate.p99), Format.ratio(p50Ratio), Format.ratio(p99Ratio),
            Format.ratio(ratio(leasedCreate.p50, Self.originalMilliseconds)),
            cpuPerLease.map { "\(Format.number($0.value)) ms (95 % \(Format.number($0.low))–\(Format.number($0.high)))" } ?? "—",
        ])
        table.add([
            "bare: 3 × `UInputDevice` + libudev monitor wait", String(bareCreate.count), Format.number(bareCreate.p50), Format.number(bareCreate.p99),
            "1.00×", "1.00×", Format.ratio(ratio(bareCreate.p50, Self.originalMilliseconds)), "",
        ])
        table.add([
            "original Fractal host service: 3 × 200 ms sleep", "fixed", "600", "600",
            Format.ratio(ratio(Self.originalMilliseconds, bareCreate.p50)), Format.ratio(ratio(Self.originalMilliseconds, bareCreate.p99)), "1.00×", "",
        ])
        table.notes = [
            "Each daemon sample is FractalClient.createLease with the default devices, timed from the call to the decoded answer; then the lease is released (timed, below) and `udevadm settle` runs (untimed). Each bare sample subscribes to udev's monitor, creates the three devices with a Fractal phys (so the same udev rules run) and waits until udevd has initialised every device and node; then closes them (timed, below) and settles.",
            "\(leasedCreate.count) rounds after 3 unreported warm-up samples each; a round is one daemon lease and one bare, back to back, alternating which goes first. \"vs bare, per round\" is the median of per-round ratios, p99 vs bare the ratio of the two p99s, each with a 95 % bootstrap interval (rounds drawn again with replacement, pairs kept together): a round holds one lease a path, so the interquartile range of its ratios would be the spread of single leases, not of the figure. The daemon's state is SQLite on the VM's tmpfs.",
            "Daemon CPU per lease: user + system from /proc/PID/stat (10 ms ticks) around each daemon sample, creation and release together; the mean, with a 95 % bootstrap interval.",
            "Goals: the daemon ≤ 1.50× bare at p50 and p99 (issue 6); issue 14: no worse than before it (1.11× at p50, 121 ms of CPU per lease). The original service's fixed sleep did not wait for udevd at all.",
        ]
        report.record(Goal(name: "lease latency vs bare, per round (p50; before issue 14: 1.11×)", figure: p50Ratio, limit: 1.11))
        report.record(Goal(name: "lease latency p99 vs bare (issue 6)", figure: p99Ratio, limit: 1.5))
        report.record(Goal(name: "daemon CPU per lease, creation and release (before issue 14: 121 ms)", figure: cpuPerLease, limit: 121, unit: .milliseconds))
        report.print(table)

        var release = Table("Lease release: request to devices destroyed", columns: [
            "path", "leases", "p50 ms", "p99 ms", "p50 vs bare", "p99 vs bare",
        ])
        release.add([
            "fractal-agent: `DELETE /v1/leases/{id}` → 200", String(leasedRelease.count), Format.number(leasedRelease.p50), Format.number(leasedRelease.p99),
            Format.ratio(ratio(leasedRelease.p50, bareRelease.p50)), Format.ratio(ratio(leasedRelease.p99, bareRelease.p99)),
        ])
        release.add([
            "bare: close the 3 `UInputDevice`s (UI_DEV_DESTROY, close)", String(bareRelease.count), Format.number(bareRelease.p50), Format.number(bareRelease.p99), "1.00×", "1.00×",
        ])
        release.notes = ["No goal; for the scale section's release times. udevd's work on the removals is not waited for."]
        report.print(release)

        try measureRules()
    }

    /// What the udev rules' dropping their program saved: bare devices with today's rules against
    /// the same with the previous rule's program added back, in paired rounds.
    private func measureRules() throws {
        var current: [Double] = []
        var program: [Double] = []
        do {
            for round in 0..<sizes.ruleRounds {
                if round % 2 == 0 { current.append(try Self.bare().create) }
                try ProgramRule.install()
                program.append(try Self.bare().create)
                try ProgramRule.remove()
                if round % 2 == 1 { current.append(try Self.bare().create) }
            }
        } catch {
            try? ProgramRule.remove()
            throw error
        }
        let withProgram = Samples(program), without = Samples(current)
        let saving = Spread.medianBootstrap(zip(program, current).map { $0 - $1 })
        var table = Table("Udev rules: what running no program saves (bare keyboard, mouse, tablet until udev-initialised)", columns: [
            "rules", "samples", "p50 ms", "p99 ms", "vs today's, per round", "saved per lease, per round",
        ])
        table.add([
            "today's: IMPORT{file} of the daemon's property file, per-role phys matches", String(without.count),
            Format.number(without.p50), Format.number(without.p99), "1.00×", "",
        ])
        table.add([
            "the same plus the previous rule's IMPORT{program} (`/bin/sh` splitting the phys, once per uevent)", String(withProgram.count),
            Format.number(withProgram.p50), Format.number(withProgram.p99),
            Format.ratio(Spread.medianBootstrap(Statistics.pairedRatios(program, current))),
            saving.map { "\(Format.number($0.value)) ms (95 % \(Format.number($0.low))–\(Format.number($0.high)))" } ?? "—",
        ])
        table.notes = [
            "\(sizes.ruleRounds) rounds, each one bare sample with today's rules and one with \(ProgramRule.path) added (the rule fractal-agent ran before issue 14, verbatim), back to back, alternating which goes first; `udevadm control --reload` around each. Per-round ratios and differences: medians with 95 % bootstrap intervals. No goal (issue 14 asks for the saving to be shown). The second path also reads the property file, so the saving is, if anything, overstated by that read.",
        ]
        report.print(table)
    }

    /// One lease through the daemon, created and released, each timed. Settles udev afterwards (untimed).
    static func leaseThroughDaemon(_ client: FractalClient) async throws -> Timing {
        let (lease, create) = try await Monotonic.milliseconds { try await client.createLease(CreateLeaseRequest()) }
        guard lease.udev == .initialized else {
            throw BenchFailure("lease \(lease.id) came back with udev \(lease.udev?.rawValue ?? "unknown"), not initialized")
        }
        let (_, release) = try await Monotonic.milliseconds { try await client.releaseLease(lease.id.rawValue, keepDirectories: false) }
        try Tool.settleUdev()
        return Timing(create: create, release: release)
    }

    /// The default devices made directly, timed until udevd has finished, then closed (timed).
    /// Settles udev afterwards (untimed).
    static func bare() throws -> Timing {
        var devices: BareDevices?
        let create = try Monotonic.milliseconds { devices = try BareDevices(roles: roles) }
        let release = Monotonic.milliseconds { devices?.close() }
        try Tool.settleUdev()
        return Timing(create: create, release: release)
    }
}

/// The udev rule fractal-agent had before issue 14, which spawned `/bin/sh` for every uevent of
/// its devices to split the phys; added back in a runtime rules file to time what dropping it saved.
enum ProgramRule {
    static let path = "/run/udev/rules.d/72-fractal-bench-program.rules"
    static let text = #"""
        # fractal-bench: fractal-agent's rule before issue 14, to time what running no program saves.
        ACTION=="remove", GOTO="fractal_bench_program_end"
        SUBSYSTEM!="input", GOTO="fractal_bench_program_end"
        ATTRS{phys}=="fractal/?*/?*", IMPORT{program}="/bin/sh -c 'rest=$${1#fractal/}; echo FRACTAL_ID=$${rest%%%%/*}; echo FRACTAL_ROLE=$${rest#*/}' fractal-phys $attr{phys}"
        LABEL="fractal_bench_program_end"

        """#

    static func install() throws {
        do {
            try FileManager.default.createDirectory(atPath: "/run/udev/rules.d", withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(filePath: path))
        } catch {
            throw BenchFailure("writing \(path): \(error)")
        }
        try reload()
    }

    static func remove() throws {
        unlink(path)
        try reload()
    }

    private static func reload() throws {
        let (status, output) = try Tool.run(["/usr/bin/udevadm", "control", "--reload"])
        guard status == 0 else { throw BenchFailure("udevadm control --reload: \(output)") }
    }
}
