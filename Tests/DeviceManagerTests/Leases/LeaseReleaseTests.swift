import DeviceManager
import Foundation
import Testing

/// Releases that must not lose track of what they leave behind, and leases that must not reach
/// each other's directories.
@Suite struct LeaseReleaseTests {
    /// Sets or clears a file's immutable flag (chattr +i): even root cannot then remove it, as
    /// with a file a release cannot remove for any other reason.
    /// Returns the errno that stopped it, or 0.
    func setImmutable(_ path: String, _ on: Bool) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        // FS_IOC_GETFLAGS / FS_IOC_SETFLAGS, FS_IMMUTABLE_FL.
        var flags: Int32 = 0
        guard ioctl(fd, 0x8008_6601, &flags) == 0 else { return errno }
        flags = on ? flags | 0x10 : flags & ~0x10
        guard ioctl(fd, 0x4008_6602, &flags) == 0 else { return errno }
        return 0
    }

    @Test func aReleaseThatLeavesAFileBehindKeepsTheLeaseListedUntilARetrySucceeds() throws {
        let scratch = try LeaseScratch()
        let manager = try scratch.manager()
        let id = try FractalID("stubborn")
        let lease = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
        let directory = try #require(lease.directories.first).path
        let stuck = directory + "/stuck"
        #expect(FileManager.default.createFile(atPath: stuck, contents: Data("x".utf8)))
        try #require(setImmutable(stuck, true) == 0, "chattr +i \(stuck)")
        defer { if FileManager.default.fileExists(atPath: stuck) { _ = setImmutable(stuck, false) } }

        #expect {
            try manager.release(id)
        } throws: { error in
            guard case LeaseError.releaseIncomplete(id, let problems) = error else { return false }
            return problems.contains { $0.contains(stuck) && $0.contains("Operation not permitted") }
        }
        let failed = try manager.lease(id)
        #expect(failed.state == .releaseFailed)
        #expect(failed.releaseProblem?.contains(stuck) == true)
        #expect(failed.directories.map(\.path) == [directory])
        #expect(manager.leases().map(\.id) == [id])
        // The ID stays taken, and so do its paths.
        #expect(throws: LeaseError.self) { try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()])) }

        // A restart retries, and keeps it while the file stays.
        let restarted = try scratch.manager()
        let report = try restarted.reconcile()
        #expect(report.releaseFailed == [id] && report.undone.isEmpty)
        #expect(try restarted.lease(id).state == .releaseFailed)
        #expect(FileManager.default.fileExists(atPath: stuck))

        #expect(setImmutable(stuck, false) == 0)
        try restarted.release(id)
        #expect(restarted.leases().isEmpty)
        #expect(scratch.entries().isEmpty)
        #expect(try LeaseStore(directory: scratch.stateDirectory).all().isEmpty)
    }

    @Test func keepDirsIsRecordedBeforeTheReleaseActsAndStartUpHonoursIt() throws {
        let scratch = try LeaseScratch()
        let manager = try scratch.manager()
        let store = try LeaseStore(directory: scratch.stateDirectory)
        let id = try FractalID("kept")
        let lease = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
        let directory = try #require(lease.directories.first).path

        // What the record says when the release starts undoing things (observers hear of it first).
        let seen = RecordSeen()
        manager.addObserver { change in
            if case .releasing = change { seen.record = try? store.all().first }
        }
        try manager.release(id, keepDirectories: true)
        #expect(seen.record?.state == .releasing)
        #expect(seen.record?.keepDirectories == true)
        #expect(FileManager.default.fileExists(atPath: directory))
        try FileManager.default.removeItem(atPath: directory)

        // A daemon killed in the middle of such a release: start-up finishes it and keeps the directories.
        for keep in [true, false] {
            let again = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
            var interrupted = again
            interrupted.state = .releasing
            interrupted.keepDirectories = keep
            try store.update(interrupted)
            let report = try scratch.manager().reconcile()
            #expect(report.undone == [id])
            #expect(FileManager.default.fileExists(atPath: directory) == keep)
            #expect(try store.all().isEmpty)
            try? FileManager.default.removeItem(atPath: directory)
            // This process still holds it as live; let it go without touching the disk.
            try manager.release(id, keepDirectories: true)
        }
    }

    @Test func aPathAtAboveOrBelowAnotherLeasesDirectoryIsRefusedWithThatLeaseNamed() throws {
        let scratch = try LeaseScratch()
        let manager = try scratch.manager()
        let placeholder = Placeholder.fractalID
        let first = try FractalID("a")
        _ = try manager.create(LeaseRequest(id: first, devices: [], directories: [try DirectoryRequest.parse(scratch.root + "/p/\(placeholder),plain")]))
        // The same path through another template and ID, one below it, and one above it.
        let cases: [(String, String, String)] = [
            ("p", "/\(placeholder)/a", "/p/a"),
            ("b", "/p/a/\(placeholder)", "/p/a/b"),
            ("p", "/\(placeholder)", "/p"),
        ]
        for (text, template, path) in cases {
            let id = try FractalID(text)
            #expect {
                try manager.create(LeaseRequest(id: id, devices: [], directories: [try DirectoryRequest.parse(scratch.root + template + ",plain")]))
            } throws: { error in
                guard case LeaseError.pathTaken(scratch.root + path, owner: first) = error else { return false }
                return "\(error)".contains("lease a")
            }
            #expect(throws: LeaseError.self) { try manager.lease(id) }
        }
        // A sibling whose name merely starts the same is not below it.
        let sibling = try manager.create(
            LeaseRequest(id: try FractalID("ab"), devices: [], directories: [try DirectoryRequest.parse(scratch.root + "/p/\(placeholder),plain")]))
        #expect(sibling.directories.map(\.path) == [scratch.root + "/p/ab"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root + "/p").sorted() == ["a", "ab"])
        #expect(try LeaseStore(directory: scratch.stateDirectory).all().count == 2)
    }

    @Test func startUpNeverRemovesAPathAnotherLeaseHolds() throws {
        let scratch = try LeaseScratch()
        let owner = try FractalID("owner")
        let manager = try scratch.manager()
        let held = try manager.create(LeaseRequest(id: owner, devices: [], directories: [try scratch.directory()]))
        let path = try #require(held.directories.first).path
        #expect(FileManager.default.createFile(atPath: path + "/theirs", contents: Data("x".utf8)))

        // A record from before planned paths were checked: an interrupted create that planned the same path.
        let store = try LeaseStore(directory: scratch.stateDirectory)
        var intruder = Lease(id: try FractalID("intruder"), state: .creating)
        intruder.plannedDirectories = [path]
        try store.insert(intruder)

        let report = try scratch.manager().reconcile()
        #expect(report.undone == [intruder.id])
        #expect(report.devicesLost == [owner])
        #expect(FileManager.default.fileExists(atPath: path + "/theirs"))
    }
}

/// What an observer saw, read back by the test.
private final class RecordSeen: @unchecked Sendable {
    var record: Lease?
}
