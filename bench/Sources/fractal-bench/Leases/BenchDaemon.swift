import FractalClient
import Foundation
import Glibc

/// A real `fractal-agent` for one section, with its own socket, state and allowed root (as the
/// VM tests start it), from the directory fractal-bench was built into.
final class BenchDaemon {
    let base: String
    let socketPath: String
    let root: String
    let logPath: String
    let process: Process
    let client: FractalClient

    var pid: Int32 { process.processIdentifier }

    /// Starts the daemon and waits until its socket answers; `extraArguments` follow the section's own.
    init(binaries: String, maximumLeases: Int? = nil, extraArguments: [String] = []) throws {
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        base = "/tmp/fractal-bench-\(tag)"
        socketPath = "/run/fractal-bench-\(tag)/agent.sock"
        root = base + "/sessions"
        logPath = base + "/agent.log"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(filePath: logPath))
        process = Process()
        process.executableURL = URL(filePath: binaries + "/fractal-agent")
        process.arguments = ["--socket", socketPath, "--state-dir", base + "/state", "--allowed-root", root, "--session-dir", "/run/fractal-bench-\(tag)/sessions"]
            + (maximumLeases.map { ["--max-leases", String($0)] } ?? []) + extraArguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        client = FractalClient(socketPath: socketPath)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchFailure("fractal-agent exited \(process.terminationStatus): \(logText)") }
            if Self.answers(socketPath) { return }
            usleep(50_000)
        }
        stop()
        throw BenchFailure("fractal-agent did not listen on \(socketPath) within 120 s: \(logText)")
    }

    deinit {
        stop()
    }

    /// SIGTERM, then waits for the daemon to exit.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// Shuts the client down, stops the daemon (releasing what is left) and removes its files.
    func finish() async {
        await client.shutdown()
        stop()
        try? FileManager.default.removeItem(atPath: base)
    }

    var logText: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no log)" }

    private static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }
}

/// What a process holds and has used: resident memory, open file descriptors and CPU time, from /proc.
struct ProcessUsage {
    var residentKiB: Int
    var openFDs: Int
    /// User and system CPU time so far.
    var cpuMilliseconds: Double

    init(pid: Int32) throws {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else {
            throw BenchFailure("/proc/\(pid)/status has no VmRSS")
        }
        residentKiB = kib
        openFDs = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        cpuMilliseconds = try Self.cpuMilliseconds(pid: pid)
    }

    /// utime + stime of /proc/PID/stat, in milliseconds.
    static func cpuMilliseconds(pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // The command name (field 2) may hold spaces; the fields after its ')' are plain.
        guard let close = stat.lastIndex(of: ")") else { throw BenchFailure("/proc/\(pid)/stat is malformed") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime and stime are fields 14 and 15.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw BenchFailure("/proc/\(pid)/stat has no utime/stime")
        }
        return (user + system) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
