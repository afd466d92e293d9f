import Foundation
import Glibc

/// Where the figures were taken: the host (as scripts/bench describes it through FRACTAL_BENCH_*
/// variables, which scripts/vm/run passes into the VM) and the VM itself.
enum Machine {
    static func describe(quick: Bool, command: String) -> String {
        let environment = ProcessInfo.processInfo.environment
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let inVM = environment["FRACTAL_VM"] == "1"
        var lines = [
            "- date: \(environment["FRACTAL_BENCH_DATE"] ?? Date().formatted(.iso8601))",
            "- host: \(environment["FRACTAL_BENCH_HOST_CPU"] ?? "unknown CPU"), \(environment["FRACTAL_BENCH_HOST_NPROC"].map { "nproc \($0)" } ?? "nproc unknown"), load average \(environment["FRACTAL_BENCH_HOST_LOAD"] ?? "unknown") at the start (the host is shared)",
            "- VM: " + (inVM ? "qemu TCG (no KVM), \(ProcessInfo.processInfo.activeProcessorCount) vCPUs, \(ProcessInfo.processInfo.physicalMemory >> 20) MiB, kernel \(kernel)" : "none: kernel \(kernel) (not the project's VM)"),
            "- build: \(environment["FRACTAL_BENCH_BUILD"] ?? "unknown")",
            "- command: `\(environment["FRACTAL_BENCH_COMMAND"] ?? command)`" + (quick ? " (--quick sizes)" : ""),
        ]
        if let commit = environment["FRACTAL_BENCH_COMMIT"] { lines.insert("- commit: \(commit)", at: 1) }
        return lines.joined(separator: "\n")
    }
}
