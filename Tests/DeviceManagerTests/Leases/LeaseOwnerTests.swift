import DeviceManager
import Foundation
import Testing

/// A lease's owner is what the kernel said of the caller; the caller's words are only a note.
@Suite struct LeaseOwnerTests {
    @Test func anOwnerReadsAsUIDGIDAndPID() {
        let owner = LeaseOwner(uid: 1000, gid: 100, pid: 4242)
        #expect(owner.description == "uid=1000 gid=100 pid=4242")
        #expect(owner.short == "uid=1000 pid=4242")
    }

    @Test func aRecordFromBeforeOwnersKeepsItsTextAsANoteAndHasNoOwner() throws {
        let record = #"{"id":"0123456789abcdef0123456789abcdef","state":"active","owner":"task:demo","createdAt":0}"#
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let lease = try decoder.decode(Lease.self, from: Data(record.utf8))
        #expect(lease.owner == nil)
        #expect(lease.note == "task:demo")
    }

    @Test func theStoreKeepsOwnerAndNoteApart() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "fractal-owner-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try LeaseStore(directory: directory)
        let owner = LeaseOwner(uid: 1234, gid: 1234, pid: 77)
        let lease = Lease(id: FractalID.random(), state: .active, owner: owner, note: "uid=0 (so it says)")
        try store.insert(lease)

        let stored = try #require(try LeaseStore(directory: directory).all().first)
        #expect(stored.owner == owner)
        #expect(stored.note == "uid=0 (so it says)")
    }
}
