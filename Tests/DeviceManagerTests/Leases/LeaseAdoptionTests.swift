import DeviceManager
import Foundation
import Testing

/// Start-up with the descriptors systemd's file-descriptor store kept (the VM's service suite
/// adopts real devices across real restarts; here, what must never be adopted).
@Suite struct LeaseAdoptionTests {
    /// An `active` record with a keyboard and a plain directory, as a killed daemon leaves it.
    func recordActiveLease(_ scratch: LeaseScratch, id: FractalID) throws -> String {
        let manager = try scratch.manager()
        let made = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
        var lease = made
        lease.devices = [LeasedDevice(
            role: .keyboard, name: "Fractal Virtual Keyboard", phys: "fractal/\(id.rawValue)/keyboard", sysname: "input999",
            nodes: [LeasedNode(kind: "event", path: "/dev/input/event999", major: 13, minor: 999)])]
        try LeaseStore(directory: scratch.stateDirectory).update(lease)
        return try #require(made.directories.first).path
    }

    @Test func aLeaseWhoseDevicesTheStoreDidNotKeepIsReleasedDirectoriesIncluded() throws {
        let scratch = try LeaseScratch()
        let id = try FractalID("gone")
        let directory = try recordActiveLease(scratch, id: id)

        let restarted = try scratch.manager()
        let report = try restarted.reconcile(adopting: [:])
        #expect(report.released == [id])
        #expect(report.adopted.isEmpty && report.adoptedDescriptors.isEmpty)
        #expect(restarted.leases().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(try LeaseStore(directory: scratch.stateDirectory).all().isEmpty)
    }

    @Test func aKeptDescriptorThatIsNotTheRecordedUInputDeviceIsNeverAdopted() throws {
        let scratch = try LeaseScratch()
        let id = try FractalID("impostor")
        _ = try recordActiveLease(scratch, id: id)
        // A pipe stored under the keyboard's name: not a uinput descriptor at all.
        var pipeEnds: [Int32] = [0, 0]
        try #require(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }

        let restarted = try scratch.manager(uinput: "/dev/null")
        let report = try restarted.reconcile(adopting: [id: [DeviceHandle(.keyboard): pipeEnds[0]]])
        #expect(report.adopted.isEmpty)
        #expect(report.adoptedDescriptors.isEmpty)
        #expect(report.released == [id])
        // Still the caller's to close: the manager did not take it.
        #expect(fcntl(pipeEnds[0], F_GETFD) >= 0)
    }

    @Test func aLeaseWithOnlyDirectoriesIsAdoptedAsItIs() throws {
        let scratch = try LeaseScratch()
        let id = try FractalID("folders")
        let manager = try scratch.manager()
        let lease = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))

        let restarted = try scratch.manager()
        let report = try restarted.reconcile(adopting: [:])
        #expect(report.adopted == [id])
        #expect(try restarted.lease(id).state == .active)
        #expect(FileManager.default.fileExists(atPath: try #require(lease.directories.first).path))
    }

    @Test func withoutAStoreDevicesAreLostAndTheLeaseKept() throws {
        let scratch = try LeaseScratch()
        let id = try FractalID("no-systemd")
        let directory = try recordActiveLease(scratch, id: id)

        let restarted = try scratch.manager()
        let report = try restarted.reconcile()
        #expect(report.devicesLost == [id])
        #expect(try restarted.lease(id).state == .devicesLost)
        #expect(FileManager.default.fileExists(atPath: directory))
    }
}

/// A state database this version cannot read stops the start, naming the file; it is never reset.
@Suite struct LeaseStoreRefusalTests {
    func scratchDirectory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appending(path: "fractal-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func aDatabaseFromANewerVersionIsRefusedAndLeftAsItIs() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try LeaseStore(directory: directory)
        let path = directory + "/state.sqlite"
        // What a later version's migration would record beside ours.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        sqlite.arguments = ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO grdb_migrations VALUES ('v2')\"); c.commit()", path]
        try sqlite.run()
        sqlite.waitUntilExit()
        try #require(sqlite.terminationStatus == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        #expect {
            try LeaseStore(directory: directory)
        } throws: { error in
            guard case LeaseError.store(_, let named, let message) = error else { return false }
            return named == path && message.contains("newer fractal-agent")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func aDamagedDatabaseIsRefusedAndLeftAsItIs() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/state.sqlite"
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))

        #expect {
            try LeaseStore(directory: directory)
        } throws: { error in
            guard case LeaseError.store(_, let named, let message) = error else { return false }
            return named == path && message.contains("move it away")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
    }
}
