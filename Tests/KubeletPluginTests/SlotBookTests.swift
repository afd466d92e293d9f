import DeviceManager
import Foundation
import KubeletPlugin
import Testing

@Suite struct KubeletSlotTests {
    @Test func deviceIDsParseOnlyInTheirOwnPoolWithOneSpelling() {
        #expect(KubeletSlot("input-3", in: .input) == KubeletSlot(pool: .input, index: 3))
        #expect(KubeletSlot("input-gamepad-0", in: .inputGamepad) == KubeletSlot(pool: .inputGamepad, index: 0))
        // `input-gamepad-0` is not a slot of `input` (whose next word must be a number).
        #expect(KubeletSlot("input-gamepad-0", in: .input) == nil)
        for bad in ["input-", "input-03", "input--1", "input-1x", "input-١", "other-1", "input-99999999999999999999"] {
            #expect(KubeletSlot(bad, in: .input) == nil, "\(bad)")
        }
    }

    @Test func aLeaseNoteNamesItsSlotAndOnlyOwnerlessLeasesAreThePlugins() throws {
        let slot = KubeletSlot(pool: .inputGamepad, index: 7)
        #expect(slot.leaseNote == "kubelet fractal.dev/input-gamepad input-gamepad-7")
        #expect(KubeletSlot(leaseNote: slot.leaseNote) == slot)
        for note in ["kubelet fractal.dev/input", "kubelet fractal.dev/other input-1", "kubelet fractal.dev/input input-gamepad-1", "devicectl"] {
            #expect(KubeletSlot(leaseNote: note) == nil, "\(note)")
        }
        var lease = Lease(id: try FractalID("a1"), state: .active, note: slot.leaseNote)
        #expect(KubeletSlot.of(lease) == slot)
        // The API records every caller: such a lease is a client's, whatever its note says.
        lease.owner = LeaseOwner(uid: 1000, gid: 1000, pid: 42)
        #expect(KubeletSlot.of(lease) == nil)
    }
}

@Suite struct SlotBookTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)
    func id(_ text: String) -> FractalID { try! FractalID(text) }

    @Test func allocateReservesKnownFreeSlotsOrRefusesNamingTheSlot() throws {
        var book = SlotBook(slotsPerPool: 4)
        let slots = try book.reserve([["input-0"], ["input-3"]], in: .input)
        #expect(slots.map(\.deviceID) == ["input-0", "input-3"])
        #expect(throws: SlotBook.Refusal.taken(deviceID: "input-0", lease: nil)) { try book.reserve([["input-0"]], in: .input) }
        book.allocate(slots[0], lease: id("l0"), at: t0)
        #expect(throws: SlotBook.Refusal.taken(deviceID: "input-0", lease: id("l0"))) { try book.reserve([["input-0"]], in: .input) }
        #expect(throws: SlotBook.Refusal.unknown(deviceID: "input-4", resourceName: "fractal.dev/input", slots: 4)) {
            try book.reserve([["input-1"], ["input-4"]], in: .input)
        }
        // A refused request reserves nothing, not even the slots before the bad one.
        #expect(book.isFree(KubeletSlot(pool: .input, index: 1)))
        #expect(throws: SlotBook.Refusal.repeated(deviceID: "input-1")) { try book.reserve([["input-1"], ["input-1"]], in: .input) }
        #expect(throws: SlotBook.Refusal.severalInOneContainer(deviceIDs: ["input-1", "input-2"], resourceName: "fractal.dev/input")) {
            try book.reserve([["input-1", "input-2"]], in: .input)
        }
        #expect(throws: SlotBook.Refusal.emptyContainerRequest) { try book.reserve([[]], in: .input) }
        // Another pool's ID is unknown here.
        #expect(throws: SlotBook.Refusal.self) { try book.reserve([["input-gamepad-1"]], in: .input) }
        let message = SlotBook.Refusal.unknown(deviceID: "input-9", resourceName: "fractal.dev/input", slots: 4).description
        #expect(message.contains("input-9") && message.contains("input-0 to -3"), "\(message)")
        book.free(slots[1])
        #expect(book.isFree(slots[1]))
    }

    @Test func aPollReleasesUnheldSlotsButNotOnesAllocatedWithinThePollInterval() throws {
        var book = SlotBook(slotsPerPool: 4)
        let slots = try book.reserve([["input-0"], ["input-1"], ["input-2"]], in: .input)
        book.allocate(slots[0], lease: id("l0"), at: t0)
        book.allocate(slots[1], lease: id("l1"), at: t0)
        book.allocate(slots[2], lease: id("l2"), at: t0.addingTimeInterval(8))
        let pods = [
            SlotBook.PodDevices(resourceName: "fractal.dev/input", deviceIDs: ["input-1"]),
            SlotBook.PodDevices(resourceName: "vendor.com/gpu", deviceIDs: ["input-0"]),
        ]
        let held = SlotBook.held(in: pods)
        #expect(held == [KubeletSlot(pool: .input, index: 1)])
        let unheld = book.unheld(by: held, listedAt: t0.addingTimeInterval(10), grace: 10)
        #expect(unheld.map(\.slot.deviceID) == ["input-0"] && unheld.map(\.lease) == [id("l0")])
        // Once a whole interval has passed, the young one goes too.
        #expect(book.unheld(by: held, listedAt: t0.addingTimeInterval(18), grace: 10).map(\.slot.deviceID) == ["input-0", "input-2"])
    }

    @Test func reconcileKeepsHeldLiveLeasesRemakesHeldLostOnesAndReleasesTheRest() throws {
        func lease(_ name: String, _ slot: String?, _ state: LeaseState, age: Double, owner: LeaseOwner? = nil) -> Lease {
            let pool: KubeletPool = slot?.hasPrefix("input-gamepad") == true ? .inputGamepad : .input
            return Lease(
                id: id(name), state: state, owner: owner, note: slot.map { KubeletSlot($0, in: pool)!.leaseNote } ?? "devicectl",
                createdAt: t0.addingTimeInterval(-age))
        }
        let leases = [
            lease("kept", "input-0", .active, age: 50),
            lease("lost", "input-gamepad-1", .devicesLost, age: 40),
            lease("gone", "input-2", .active, age: 30),
            lease("gone-lost", "input-3", .devicesLost, age: 30),
            lease("second", "input-0", .active, age: 20),
            lease("failing", "input-5", .releaseFailed, age: 10),
            lease("other", nil, .active, age: 10),
            lease("client", "input-6", .active, age: 10, owner: LeaseOwner(uid: 0, gid: 0, pid: 1)),
        ]
        let held = SlotBook.held(in: [
            SlotBook.PodDevices(resourceName: "fractal.dev/input", deviceIDs: ["input-0", "input-6"]),
            SlotBook.PodDevices(resourceName: "fractal.dev/input-gamepad", deviceIDs: ["input-gamepad-1"]),
        ])
        let plan = SlotBook.reconcile(leases, held: held)
        #expect(plan.keep == [KubeletSlot(pool: .input, index: 0): .init(lease: id("kept"), since: t0.addingTimeInterval(-50))])
        #expect(plan.remake == [KubeletSlot(pool: .inputGamepad, index: 1): id("lost")])
        #expect(Set(plan.release) == [id("gone"), id("gone-lost"), id("second")])
    }

    @Test func healthMarksEverySlotWithoutUInputAndOnlyFreeOnesAtTheLeaseLimit() throws {
        var book = SlotBook(slotsPerPool: 3)
        let slot = try book.reserve([["input-1"]], in: .input)[0]
        book.allocate(slot, lease: id("l1"), at: t0)
        #expect(book.devices(.input, health: .healthy).map(\.healthy) == [true, true, true])
        #expect(book.devices(.input, health: .noUInput("gone")).map(\.healthy) == [false, false, false])
        #expect(book.devices(.input, health: .atLeaseLimit(3)).map(\.healthy) == [false, true, false])
        #expect(book.devices(.inputGamepad, health: .healthy).map(\.slot.deviceID) == ["input-gamepad-0", "input-gamepad-1", "input-gamepad-2"])
    }

    @Test func preferredAllocationTakesRequiredSlotsFirstThenTheKubeletsOrder() {
        #expect(SlotBook.preferred(available: ["input-2", "input-0", "input-1"], mustInclude: ["input-1"], size: 2) == ["input-1", "input-2"])
        #expect(SlotBook.preferred(available: ["input-0"], mustInclude: [], size: 3) == ["input-0"])
        #expect(SlotBook.preferred(available: ["input-0"], mustInclude: [], size: 0) == [])
    }
}
