import ArgumentParser
import Foundation
import Glibc

/// fractal-bench: what fractal-agent's injection, leases and container starts cost, each against
/// a baseline measured in the same run. Runs inside the project's VM (scripts/bench starts it).
@main
struct FractalBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fractal-bench",
        abstract: "Measure event injection, streaming, lease latency, bursts, container start, scale, the kubelet's Allocate and uhid game pads against baselines from the same run.",
        discussion: """
            Needs /dev/uinput, udevd, (for containers) dockerd and (for pads) /dev/uhid with hid-playstation and hid-nintendo: run it through scripts/bench, which builds \
            it and runs it in the project's VM. Absolute times there are inflated by emulation; every table \
            therefore carries its baseline, measured in the same run, and the goals are ratios over paired \
            rounds (a path and its baseline back to back), judged on the unfavourable end of their spread.
            """
    )

    enum Section: String, CaseIterable, ExpressibleByArgument {
        case injection, streaming, leases, burst, containers, scale, kubelet, pads
    }

    @Flag(help: "Small sample sizes, to check the harness in a few minutes.")
    var quick = false

    @Option(name: .customLong("only"), help: "Run only this section (repeatable): injection, streaming, leases, burst, containers, scale, kubelet, pads.")
    var sections: [Section] = []

    @Option(help: "Where fractal-agent and devicectl are (default: beside fractal-bench).")
    var binaries: String?

    @Option(help: "The python3-evdev sender.")
    var pythonScript = "bench/python/evdev_sender.py"

    func validate() throws {
        guard access("/dev/uinput", R_OK | W_OK) == 0 else {
            throw ValidationError("no usable /dev/uinput here: run fractal-bench inside the project's VM, through scripts/bench")
        }
    }

    func run() async throws {
        let sizes = quick ? Sizes.quick : Sizes.full
        let chosen = sections.isEmpty ? Section.allCases : Section.allCases.filter(sections.contains)
        let binaries = self.binaries ?? URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let report = Report()
        print("## fractal-bench\n\n" + Machine.describe(quick: quick, command: CommandLine.arguments.joined(separator: " ")) + "\n")

        if chosen.contains(.leases) || chosen.contains(.burst) || chosen.contains(.containers) || chosen.contains(.scale)
            || chosen.contains(.kubelet) {
            let (status, output) = try Tool.run([binaries + "/devicectl", "udev-rules", "install"])
            guard status == 0 else { throw BenchFailure("devicectl udev-rules install: \(output)") }
            if Tool.udevRunning { try Tool.settleUdev() }
        }

        var failures: [String] = []
        for section in chosen {
            let started = Monotonic.nanoseconds
            report.note("\(section.rawValue): running")
            do {
                switch section {
                case .injection:
                    try InjectionBenchmark(sizes: sizes, python: PythonEvdev(script: pythonScript), report: report).run()
                case .streaming:
                    try StreamingBenchmark(sizes: sizes, report: report).run()
                case .leases:
                    try await LeaseBenchmark(sizes: sizes, binaries: binaries, report: report).run()
                case .burst:
                    try await BurstBenchmark(sizes: sizes, binaries: binaries, report: report).run()
                case .containers:
                    try await ContainerBenchmark(sizes: sizes, binaries: binaries, report: report).run()
                case .scale:
                    try await ScaleBenchmark(sizes: sizes, binaries: binaries, report: report).run()
                case .kubelet:
                    try await KubeletBenchmark(sizes: sizes, binaries: binaries, report: report).run()
                case .pads:
                    try PadBenchmark(sizes: sizes, report: report).run()
                }
            } catch {
                failures.append("\(section.rawValue): \(error)")
                print("### \(section.rawValue): FAILED\n\n\(error)\n")
            }
            report.note("\(section.rawValue): done in \(Format.number(Double(Monotonic.nanoseconds - started) / 1e9)) s")
        }
        if !report.goals.isEmpty { report.print(report.goalsTable) }
        if !failures.isEmpty {
            throw BenchFailure("\(failures.count) section(s) failed: " + failures.joined(separator: "; "))
        }
    }
}
