import DeviceManager
import Foundation
import Testing

/// A scratch state directory and allowed root, removed afterwards.
final class LeaseScratch {
    let base: String
    var stateDirectory: String { base + "/state" }
    var root: String { base + "/sessions" }

    init() throws {
        base = FileManager.default.temporaryDirectory.appending(path: "fractal-lease-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base + "/sessions", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func manager(limit: Int = 8, uinput: String = "/nonexistent/uinput") throws -> LeaseManager {
        try LeaseManager(configuration: .init(
            stateDirectory: stateDirectory, allowedRoots: [root], maximumLeases: limit,
            udevTimeout: .seconds(2), uinputPath: uinput))
    }

    /// Plain by default: host tests make no mounts (the VM tests cover the tmpfs caps).
    func directory(_ suffix: String = ",plain") throws -> DirectoryRequest {
        try DirectoryRequest.parse(root + "/%%FRACTAL_ID_PLACEHOLDER%%" + suffix)
    }

    func entries() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    }
}

@Suite struct LeaseManagerTests {
    @Test func directoriesOnlyLeaseIsMadeStoredAndReleased() throws {
        let scratch = try LeaseScratch()
        let manager = try scratch.manager()
        let id = try FractalID("session-1")
        let lease = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
        #expect(lease.state == .active)
        #expect(lease.directories.map(\.path) == [scratch.root + "/session-1"])
        #expect(scratch.entries() == ["session-1"])
        #expect(try manager.lease(id).id == id)

        // A second manager on the same state sees it as kept, with its directory.
        let reopened = try scratch.manager()
        let report = try reopened.reconcile()
        #expect(report.devicesLost == [id])
        #expect(try reopened.lease(id).state == .devicesLost)
        #expect(scratch.entries() == ["session-1"])

        try reopened.release(id)
        #expect(scratch.entries().isEmpty)
        #expect(reopened.leases().isEmpty)
        #expect(throws: LeaseError.self) { try reopened.release(id) }
        #expect(try scratch.manager().reconcile().devicesLost.isEmpty)
    }

    @Test func aDeviceThatCannotBeMadeUndoesTheDirectoriesBeforeIt() throws {
        let scratch = try LeaseScratch()
        let manager = try scratch.manager()
        let id = try FractalID("doomed")
        do {
            _ = try manager.create(LeaseRequest(id: id, devices: [.keyboard], directories: [try scratch.directory()]))
            Issue.record("creating a device without uinput succeeded")
        } catch let error as LeaseError {
            guard case .device(DeviceHandle(.keyboard), let cause) = error else { Issue.record("unexpected error \(error)"); return }
            #expect("\(cause)".contains("/nonexistent/uinput"))
        }
        #expect(scratch.entries().isEmpty)
        #expect(manager.leases().isEmpty)
        // Nothing stored either: the ID is free again.
        #expect(try scratch.manager().reconcile().devicesLost.isEmpty)
        _ = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
    }

    @Test func duplicateIDsRolesAndTheLimitAreRefused() throws {
        let scratch = try LeaseScratch()
        let manager = try scratch.manager(limit: 2)
        let id = try FractalID("one")
        _ = try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
        #expect {
            try manager.create(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
        } throws: { error in
            guard case LeaseError.duplicate(id) = error else { return false }
            return true
        }
        #expect {
            try manager.create(LeaseRequest(devices: [.mouse, .mouse]))
        } throws: { error in
            guard case LeaseError.duplicateRole(.mouse) = error else { return false }
            return true
        }
        #expect {
            try manager.create(LeaseRequest(devices: [], directories: []))
        } throws: { error in
            guard case LeaseError.empty = error else { return false }
            return true
        }
        _ = try manager.create(LeaseRequest(devices: [], directories: [try scratch.directory()]))
        #expect {
            try manager.create(LeaseRequest(devices: [], directories: [try scratch.directory()]))
        } throws: { error in
            guard case LeaseError.limitReached(limit: 2) = error else { return false }
            return true
        }
        #expect(scratch.entries().count == 2)
    }

    @Test func aTemplateOutsideTheRootsLeavesNothingBehind() throws {
        let scratch = try LeaseScratch()
        let manager = try scratch.manager()
        let good = try scratch.directory()
        let bad = try DirectoryRequest.parse(scratch.base + "/elsewhere/%%FRACTAL_ID_PLACEHOLDER%%")
        #expect(throws: LeaseError.self) {
            try manager.create(LeaseRequest(devices: [], directories: [good, bad]))
        }
        #expect(scratch.entries().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: scratch.base + "/elsewhere"))
        #expect(manager.leases().isEmpty)
    }

    @Test func reconcileUndoesALeaseInterruptedWhileBeingMade() throws {
        let scratch = try LeaseScratch()
        let id = try FractalID("interrupted")
        // What a process killed between making a directory and recording it leaves behind.
        let store = try LeaseStore(directory: scratch.stateDirectory)
        var lease = Lease(id: id, state: .creating)
        lease.plannedDirectories = [scratch.root + "/interrupted"]
        try store.insert(lease)
        try FileManager.default.createDirectory(atPath: scratch.root + "/interrupted/data", withIntermediateDirectories: true)

        let manager = try scratch.manager()
        let report = try manager.reconcile()
        #expect(report.undone == [id])
        #expect(report.problems.isEmpty)
        #expect(scratch.entries().isEmpty)
        #expect(manager.leases().isEmpty)
        #expect(try store.all().isEmpty)
    }
}

@Suite struct EventScriptTests {
    @Test func namesResolveInLongAndShortForms() throws {
        #expect(try EventScript.code(named: "KEY_A") == 30)
        #expect(try EventScript.code(named: "a") == 30)
        #expect(try EventScript.code(named: "enter") == 28)
        #expect(try EventScript.code(named: "BTN_SOUTH") == 0x130)
        #expect(try EventScript.code(named: "left") == 105)  // KEY_LEFT: keys first, then buttons
        #expect(try EventScript.code(named: "south") == 0x130)
        #expect(throws: EventScript.Error.self) { try EventScript.code(named: "KEY_NOPE") }
    }

    @Test func textIsTypedWithShiftWhereNeeded() throws {
        let events = try EventScript.type("a!")
        // a: down, syn, up, syn; !: shift down, syn, 1 down, syn, 1 up, syn, shift up, syn.
        #expect(events.count == 12)
        #expect(events[0] == .key(30, pressed: true))
        #expect(events[4] == .key(42, pressed: true))
        #expect(events[6] == .key(2, pressed: true))
        #expect(events[10] == .key(42, pressed: false))
        #expect(events.filter { $0 == .syn() }.count == 6)
        #expect(throws: EventScript.Error.self) { try EventScript.type("é") }
    }
}
