import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a session can leave in its directories, and hosts without fractal-agent's udev rules:
/// the daemon's releases stay honest and its leases fail closed.
@Suite(.serialized) struct LeaseReleaseVMTests {
    /// Makes a chain of `depth` directories below `path`, holding two descriptors at a time
    /// (the whole path is far past PATH_MAX, as a session's `mkdir -p` loop makes it).
    static func makeChain(below path: String, depth: Int) throws {
        var current = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw VMTestFailure(description: "open \(path): errno \(errno)") }
        defer { close(current) }
        for level in 0..<depth {
            let next: Int32
            if mkdirat(current, "d", 0o755) == 0 {
                next = openat(current, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            } else {
                next = -1
            }
            guard next >= 0 else { throw VMTestFailure(description: "level \(level) below \(path): errno \(errno)") }
            close(current)
            current = next
        }
    }

    /// Writes into a new file until the filesystem refuses; returns the errno that stopped it.
    static func fill(_ path: String) -> Int32 {
        let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 256 * 1024)
        while true {
            let result = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if result <= 0 { return result < 0 ? errno : 0 }
        }
    }

    static func status(of call: () async throws -> Void) async -> (Int?, String) {
        do {
            try await call()
            return (200, "")
        } catch let error as FractalClientError {
            return (error.status, "\(error)")
        } catch {
            return (nil, "\(error)")
        }
    }

    @Test func deepTreesAndFullDirectoriesAreReleasedOrTheLeaseStaysListedWithItsReason() async throws {
        try requireVM()
        let daemon = try DaemonProcess(extraArguments: ["--directory-size", "4M", "--directory-inodes", "8192"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }

        // The default directory is a capped tmpfs; a plain one only when asked for.
        let capped = try daemon.directory()
        let plain = try DirectoryRequest.parse(daemon.root + "/%%FRACTAL_ID_PLACEHOLDER%%-plain,plain")
        let lease = try await client.createLease(CreateLeaseRequest(devices: ["keyboard"], directories: [capped, plain]))
        let cappedPath = try #require(lease.directories.first).path
        let plainPath = try #require(lease.directories.last).path
        let mount = try #require(MountTable.current().entries.last { $0.mountPoint == cappedPath })
        #expect(mount.fileSystemType == "tmpfs")
        #expect(mount.superOptions.contains("size=4096k") && mount.superOptions.contains("nr_inodes=8192"), "\(mount.superOptions)")
        // More than the operator allows is refused, naming the flag.
        let (tooBig, message) = await Self.status {
            _ = try await client.createLease(CreateLeaseRequest(devices: [], directories: [try daemon.directory(",tmpfs=8M")]))
        }
        #expect(tooBig == 400 && message.contains("--directory-max-size"), "\(message)")

        // What a hostile session leaves: 3,000 levels in each, and the capped one written full.
        try Self.makeChain(below: cappedPath, depth: 3000)
        try Self.makeChain(below: plainPath, depth: 3000)
        #expect(Self.fill(cappedPath + "/full") == ENOSPC)

        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        #expect(daemon.rootEntries.isEmpty)
        #expect(daemon.mountsUnderRoot.isEmpty)
        #expect(try await client.leases().isEmpty)
        #expect(sysfsDevices(of: [lease.id.rawValue]).isEmpty)

        // A release that cannot remove everything (a mount it did not make, inside the
        // directory) keeps the lease listed, with what is left and why, until a retry succeeds.
        let stuck = try await client.createLease(CreateLeaseRequest(devices: ["keyboard"], directories: [plain]))
        let stuckPath = try #require(stuck.directories.first).path
        let inner = stuckPath + "/inner"
        #expect(mkdir(inner, 0o755) == 0)
        #expect(Glibc.mount("foreign", inner, "tmpfs", 0, "size=64k") == 0)
        defer { umount2(inner, Int32(MNT_DETACH)) }
        let (failedStatus, failure) = await Self.status { _ = try await client.releaseLease(stuck.id.rawValue, keepDirectories: false) }
        #expect(failedStatus == 500 && failure.contains("release-failed") && failure.contains(inner), "\(failure)")
        let listed = try await client.lease(stuck.id.rawValue)
        #expect(listed.state == .releaseFailed)
        #expect(listed.releaseProblem?.contains(inner) == true, "\(listed.releaseProblem ?? "nil")")
        #expect(listed.directories.map(\.path) == [stuckPath])
        #expect(FileManager.default.fileExists(atPath: stuckPath))
        // Its devices are gone: only the directory remains, and the record says so.
        #expect(sysfsDevices(of: [stuck.id.rawValue]).isEmpty)
        let (_, table) = try daemon.devicectl(["list"])
        #expect(tableHasRow(table, [stuck.id.rawValue, "release-failed"]), "\(table)")

        // A restart keeps it (its release fails again at start-up) ...
        await client.shutdown()
        daemon.stop()
        try daemon.start()
        let restarted = daemon.client()
        defer { Task { await restarted.shutdown() } }
        #expect(try await restarted.lease(stuck.id.rawValue).state == .releaseFailed)
        // ... and once the mount is gone, releasing it again removes the rest and the record.
        #expect(umount2(inner, 0) == 0)
        _ = try await restarted.releaseLease(stuck.id.rawValue, keepDirectories: false)
        #expect(try await restarted.leases().isEmpty)
        #expect(daemon.rootEntries.isEmpty)
        daemon.stop()
    }

    @Test func withoutTheUdevRulesALeaseIsRefusedWithTheInstallHintAndLeavesNothing() async throws {
        try requireVM()
        // Rules missing, as on a host where nobody ran `devicectl udev-rules install`.
        for directory in ["/etc/udev/rules.d", "/run/udev/rules.d", "/usr/lib/udev/rules.d", "/lib/udev/rules.d"] {
            unlink(directory + "/" + UdevRules.fileName)
        }
        _ = try runTool(["udevadm", "control", "--reload"])
        defer { try? installUdevRules() }
        let daemon = try DaemonProcess(installingUdevRules: false)
        let client = daemon.client()
        defer { Task { await client.shutdown() } }

        let (status, message) = await Self.status {
            _ = try await client.createLease(CreateLeaseRequest(id: "no-rules", devices: ["keyboard", "gamepad"], directories: [try daemon.directory()]))
        }
        #expect(status == 503, "\(message)")
        #expect(message.contains("devicectl udev-rules install") && message.contains("FRACTAL_HOST_HIDDEN"), "\(message)")
        #expect(sysfsDevices(of: ["no-rules"]).isEmpty)
        #expect(daemon.rootEntries.isEmpty)
        #expect(daemon.mountsUnderRoot.isEmpty)
        #expect(try await client.leases().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: daemon.sessionRoot + "/no-rules"))

        // With the rules back the same request succeeds: it was the rules.
        try installUdevRules()
        let lease = try await client.createLease(CreateLeaseRequest(id: "no-rules", devices: ["keyboard"]))
        #expect(lease.udev == .initialized)
        _ = try await client.releaseLease("no-rules", keepDirectories: false)
        daemon.stop()
    }
}
