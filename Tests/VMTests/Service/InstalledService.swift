import Foundation
import Testing

/// The Debian package installed on the VM's systemd (PID 1), driven as an operator would:
/// dpkg, systemctl, journalctl and the installed devicectl. The packages come from
/// scripts/package through the environment scripts/test sets.
enum InstalledService {
    static let unit = "fractal-agent.service"

    /// The package built from this tree, and one of a higher version (the upgrade).
    static func package(upgrade: Bool = false) throws -> String {
        let variable = upgrade ? "FRACTAL_PACKAGE_UPGRADE" : "FRACTAL_PACKAGE"
        guard let path = ProcessInfo.processInfo.environment[variable], FileManager.default.fileExists(atPath: path) else {
            throw VMTestFailure(description: "\(variable) names no package: run scripts/test (it builds them with scripts/package)")
        }
        return path
    }

    /// Fails unless systemd is PID 1 (scripts/vm/run --systemd).
    static func requireSystemd() throws {
        try requireVM()
        let first = (try? String(contentsOfFile: "/proc/1/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard first == "systemd" else {
            throw VMTestFailure(description: "the service suite needs systemd as PID 1 (scripts/vm/run --systemd); PID 1 is \(first ?? "unknown")")
        }
    }

    /// Runs a command, failing the test with its output when it fails (unless `allowingFailure`).
    @discardableResult
    static func run(_ arguments: [String], allowingFailure: Bool = false, timeout: Duration = .seconds(300)) throws -> (status: Int32, output: String) {
        if arguments.first == "dpkg" {
            // man-db's trigger re-indexes every page: minutes under emulation, nothing the test looks at.
            unlink("/var/lib/man-db/auto-update")
        }
        let result = try runTool(arguments, timeout: timeout)
        if !allowingFailure && result.status != 0 {
            throw VMTestFailure(description: "\(arguments.joined(separator: " ")) exited \(result.status):\n\(result.output.suffix(3000))")
        }
        return result
    }

    /// Installs the package unless this version or a later one is installed, and starts the service.
    static func ensureRunning() throws {
        try requireSystemd()
        let installed = try run(["dpkg-query", "-W", "-f=${Status}", "fractal-agent"], allowingFailure: true)
        if !installed.output.contains("install ok installed") {
            try run(["dpkg", "-i", try package()])
        }
        try run(["systemctl", "start", unit])
        try waitUntilServing()
    }

    static var mainPID: Int32 {
        let shown = (try? run(["systemctl", "show", "-p", "MainPID", "--value", unit], allowingFailure: true).output) ?? ""
        return Int32(shown.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    static func property(_ name: String) -> String {
        ((try? run(["systemctl", "show", "-p", name, "--value", unit], allowingFailure: true).output) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until the service is active (READY=1 came) under a main PID other than `previous`
    /// and its API answers.
    static func waitUntilServing(replacing previous: Int32? = nil, timeout: Duration = .seconds(90)) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let pid = mainPID
            if pid != 0, pid != previous, property("ActiveState") == "active",
               (try? run(["devicectl", "list"], allowingFailure: true).status) == 0 {
                return
            }
            usleep(100_000)
        }
        throw VMTestFailure(description: "\(unit) did not come back (main PID \(mainPID), \(property("ActiveState"))/\(property("SubState"))); its journal:\n\(journal(lines: 60))")
    }

    static func journal(lines: Int = 40) -> String {
        (try? run(["journalctl", "-u", unit, "-b", "--no-pager", "-n", String(lines)], allowingFailure: true).output) ?? ""
    }

    /// `devicectl ARGS --json`, parsed.
    static func devicectlJSON(_ arguments: [String]) throws -> Any {
        let result = try run(["devicectl"] + arguments + ["--json"])
        return try JSONSerialization.jsonObject(with: Data(result.output.utf8))
    }

    /// A lease as `devicectl create/inspect --json` shows it.
    struct ShownLease {
        var id: String
        var state: String
        /// Role → event node path.
        var eventNodes: [String: String]

        init(_ json: Any) throws {
            guard let object = json as? [String: Any], let id = object["id"] as? String, let state = object["state"] as? String,
                  let devices = object["devices"] as? [[String: Any]] else {
                throw VMTestFailure(description: "not a lease: \(json)")
            }
            self.id = id
            self.state = state
            var nodes: [String: String] = [:]
            for device in devices {
                guard let role = device["role"] as? String, let list = device["nodes"] as? [[String: Any]] else { continue }
                nodes[role] = list.first { $0["kind"] as? String == "event" }?["path"] as? String
            }
            eventNodes = nodes
        }
    }

    /// Starts the repository's Python session client: HELLO, then a tap of `key` on device 0
    /// (the keyboard); it exits 0 once served. Not waited for, so it can connect during a restart.
    static func sessionClient(typing key: UInt16, at socketPath: String) throws -> Process {
        let script = """
            import sys; sys.path.insert(0, sys.argv[1])
            from fractal_session import Session
            with Session(sys.argv[2], timeout=60) as session:
                session.hello(); session.tap(0, int(sys.argv[3])); session.ping()
            """
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/python3")
        process.arguments = ["-c", script, repositoryRoot.appending(path: "clients/python").path, socketPath, String(key)]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func create(_ devices: String) throws -> ShownLease {
        try ShownLease(try devicectlJSON(["create", "--devices", devices]))
    }

    static func inspect(_ id: String) throws -> ShownLease {
        try ShownLease(try devicectlJSON(["inspect", id]))
    }
}
