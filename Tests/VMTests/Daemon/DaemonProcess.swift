import Agent
import DeviceManager
import FractalAPI
import FractalClient
import FractalSystem
import Foundation

/// A real `fractal-agent` process for one test, with its own socket, state and allowed root,
/// built next to this test binary.
final class DaemonProcess: @unchecked Sendable {
    let base: String
    let socketPath: String
    let stateDirectory: String
    let root: String
    /// Each lease's session socket and udev view (`--session-dir`).
    let sessionRoot: String
    let extraArguments: [String]
    private(set) var process: Process?
    private(set) var log: String

    /// The directory holding the built executables (the test bundle sits beside them).
    static let binaries = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()

    static func executable(_ name: String) throws -> String {
        let candidate = binaries.appending(path: name).path
        if access(candidate, X_OK) == 0 { return candidate }
        throw VMTestFailure(description: "\(name) is not built next to the tests (\(binaries.path)); run swift build --build-tests")
    }

    /// `socketPath`: where the API listens; by default in a directory the daemon makes.
    /// `installingUdevRules`: the daemon refuses leases whose devices its rules did not mark, so
    /// they are installed first unless a test wants them missing.
    init(extraArguments: [String] = [], socketPath: String? = nil, installingUdevRules: Bool = true) throws {
        if installingUdevRules { try installUdevRules() }
        let tag = UUID().uuidString.prefix(8).lowercased()
        base = "/tmp/fractal-daemon-\(tag)"
        self.socketPath = socketPath ?? "/run/fractal-test-\(tag)/agent.sock"
        stateDirectory = base + "/state"
        root = base + "/sessions"
        sessionRoot = "/run/fractal-test-\(tag)/sessions"
        log = base + "/agent.log"
        self.extraArguments = extraArguments
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop(signal: SIGKILL)
    }

    /// Starts the daemon and waits until its socket answers.
    func start() throws {
        let process = Process()
        process.executableURL = URL(filePath: try Self.executable("fractal-agent"))
        process.arguments = [
            "--socket", socketPath, "--state-dir", stateDirectory, "--allowed-root", root, "--log-level", "debug",
            "--session-dir", sessionRoot,
            // udevd under emulation, with 150 devices at once, is far slower than on a host.
            "--udev-timeout", "120",
        ] + extraArguments
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(filePath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if !process.isRunning { throw VMTestFailure(description: "fractal-agent exited \(process.terminationStatus): \(logText)") }
            if Self.answers(socketPath) { return }
            usleep(50_000)
        }
        throw VMTestFailure(description: "fractal-agent did not listen on \(socketPath) within 60 s: \(logText)")
    }

    /// Stops the daemon with `signal` and waits for it to exit.
    func stop(signal: Int32 = SIGTERM) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no log)" }

    func client() -> FractalClient { FractalClient(socketPath: socketPath) }

    /// Runs devicectl against this daemon.
    func devicectl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runTool([try Self.executable("devicectl")] + arguments + ["--socket", socketPath])
    }

    /// A directory template under this daemon's root.
    func directory(_ options: String = "") throws -> DirectoryRequest {
        try DirectoryRequest.parse(root + "/%%FRACTAL_ID_PLACEHOLDER%%" + options)
    }

    var rootEntries: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted() }

    /// Mount points at or below this daemon's root.
    var mountsUnderRoot: [String] {
        ((try? MountTable.current())?.mounts(under: root) ?? []).map(\.mountPoint)
    }

    private static func answers(_ path: String) -> Bool {
        UnixSocketProbe.failure(path) == nil
    }
}

/// Installs fractal-agent's udev rules in the VM (idempotent): the lease tests check what they do.
func installUdevRules() throws {
    let (status, output) = try runTool([try DaemonProcess.executable("devicectl"), "udev-rules", "install"])
    guard status == 0 else { throw VMTestFailure(description: "devicectl udev-rules install: \(output)") }
}

/// The input devices in sysfs whose phys names one of `ids`.
func sysfsDevices(of ids: Set<String>) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/input")) ?? []
    return names.filter { name in
        guard name.hasPrefix("input"),
              let phys = try? String(contentsOfFile: "/sys/class/input/\(name)/phys", encoding: .utf8) else { return false }
        let parts = phys.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/")
        return parts.count == 3 && parts[0] == "fractal" && ids.contains(String(parts[1]))
    }
}
