import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// The API socket knows its callers: the kernel's word for who asked (SO_PEERCRED), the
/// `--api-allow-uid` list, and a socket directory the daemon did not make left as it was.
@Suite(.serialized) struct ApiPeerVMTests {
    /// A user and group that exist nowhere but in these tests.
    static let stranger: UInt32 = 1234

    @Test func aLeaseRecordsTheCallersUIDAndPIDWhateverItsRequestSays() async throws {
        try requireVM()
        try installUdevRules()
        let daemon = try DaemonProcess(extraArguments: ["--socket-group", "\(Self.stranger)"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }

        // The directory the daemon made: reachable by root and the socket's group only.
        let directory = try fileStatus((daemon.socketPath as NSString).deletingLastPathComponent)
        #expect(directory.mode == 0o750 && directory.uid == 0 && directory.gid == Self.stranger, "\(directory)")
        let socket = try fileStatus(daemon.socketPath)
        #expect(socket.mode == 0o660 && socket.uid == 0 && socket.gid == Self.stranger, "\(socket)")

        let body = #"{"devices": ["keyboard"], "owner": "uid=0 root, trust me"}"#
        let answer = try curl(as: Self.stranger, daemon.socketPath, "POST", "/v1/leases", body: body)
        #expect(answer.status == 201, "\(answer.body)")
        let lease = try decoder.decode(LeaseResponse.self, from: Data(answer.body.utf8))
        #expect(lease.owner == LeaseOwner(uid: Self.stranger, gid: Self.stranger, pid: answer.pid))
        #expect(lease.note == "uid=0 root, trust me")

        // Root sees the same owner, from the record, and devicectl shows it.
        let listed = try #require(try await client.leases().first { $0.id == lease.id })
        #expect(listed.owner == lease.owner)
        let table = try daemon.devicectl(["list"])
        #expect(table.output.contains("uid=\(Self.stranger) pid=\(answer.pid)"), "\(table.output)")
        let inspected = try daemon.devicectl(["inspect", lease.id.rawValue])
        #expect(inspected.output.contains("owner      uid=\(Self.stranger) gid=\(Self.stranger) pid=\(answer.pid)"), "\(inspected.output)")

        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        daemon.stop()
    }

    @Test func withAnAllowListOtherUsersGet403AndRootAndListedUsersDoNot() async throws {
        try requireVM()
        let allowed: UInt32 = 1000
        let daemon = try DaemonProcess(extraArguments: ["--socket-group", "\(Self.stranger)", "--api-allow-uid", "\(allowed)"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }

        // Every route, the liveness check and metrics included; nothing is made.
        for (method, path, body) in [("GET", "/_ping", ""), ("GET", "/metrics", ""), ("GET", "/v1/leases", ""),
                                     ("POST", "/v1/leases", #"{"devices": ["keyboard"]}"#)] {
            let answer = try curl(as: Self.stranger, daemon.socketPath, method, path, body: body)
            #expect(answer.status == 403, "\(method) \(path): \(answer.body)")
            let message = try? decoder.decode(ErrorResponse.self, from: Data(answer.body.utf8)).message
            #expect(message?.contains("uid \(Self.stranger)") == true && message?.contains("--api-allow-uid") == true, "\(answer.body)")
        }
        #expect(try await client.leases().isEmpty)

        // A listed user may (its group reaches the socket); root always may.
        let listedUser = try curl(as: allowed, group: Self.stranger, daemon.socketPath, "GET", "/v1/leases")
        #expect(listedUser.status == 200, "\(listedUser.body)")
        #expect(try await client.version().apiVersion == fractalAPIVersion)
        #expect(daemon.logText.contains("request refused: uid \(Self.stranger)"))
        daemon.stop()
    }

    @Test func aSocketInAnExistingDirectoryLeavesItsModeAndOwnerAlone() async throws {
        try requireVM()
        let existing = "/tmp/fractal-existing-\(UUID().uuidString.prefix(8).lowercased())"
        #expect(mkdir(existing, 0o700) == 0)
        defer { try? FileManager.default.removeItem(atPath: existing) }
        #expect(chmod(existing, 0o755) == 0 && chown(existing, Self.stranger, Self.stranger) == 0)
        let before = try fileStatus(existing)

        let daemon = try DaemonProcess(extraArguments: ["--socket-group", "\(Self.stranger)"], socketPath: existing + "/agent.sock")
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        #expect(try await client.leases().isEmpty)

        let after = try fileStatus(existing)
        #expect(after.mode == before.mode && after.uid == before.uid && after.gid == before.gid, "before \(before), after \(after)")
        let socket = try fileStatus(daemon.socketPath)
        #expect(socket.mode == 0o660 && socket.uid == 0 && socket.gid == Self.stranger, "\(socket)")
        // Bound in a private directory and renamed into place: nothing of that is left.
        #expect(try FileManager.default.contentsOfDirectory(atPath: existing) == ["agent.sock"])
        daemon.stop()
        #expect(try fileStatus(existing).mode == before.mode)
    }

    // MARK: Helpers

    private let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    private struct FileStatus: CustomStringConvertible {
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var description: String { "mode \(String(mode, radix: 8)) uid \(uid) gid \(gid)" }
    }

    private func fileStatus(_ path: String) throws -> FileStatus {
        var info = stat()
        guard stat(path, &info) == 0 else { throw VMTestFailure(description: "stat \(path): \(String(cString: strerror(errno)))") }
        return FileStatus(mode: info.st_mode & 0o7777, uid: info.st_uid, gid: info.st_gid)
    }

    /// curl on the daemon's socket as `uid` (group `group`, no others): the HTTP status, the
    /// body, and the pid of the process that connected (the shell prints its own, then execs curl).
    private func curl(
        as uid: UInt32, group: UInt32? = nil, _ socketPath: String, _ method: String, _ path: String, body: String = ""
    ) throws -> (status: Int, body: String, pid: Int32) {
        let data = body.isEmpty ? "" : "-H 'Content-Type: application/json' --data-raw \"$BODY\""
        let script = #"echo "$$"; exec curl -sS --unix-socket "$SOCK" -X "$METHOD" "# + data + #" -w '\n%{http_code}' "http://localhost$URLPATH""#
        let (status, output) = try runTool([
            "env", "SOCK=\(socketPath)", "METHOD=\(method)", "URLPATH=\(path)", "BODY=\(body)",
            "setpriv", "--reuid", "\(uid)", "--regid", "\(group ?? uid)", "--clear-groups", "sh", "-c", script,
        ])
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard status == 0, lines.count >= 3, let pid = Int32(lines.removeFirst()), let code = Int(lines.removeLast()) else {
            throw VMTestFailure(description: "curl as uid \(uid) \(method) \(path) exited \(status): \(output)")
        }
        return (code, lines.joined(separator: "\n"), pid)
    }
}
