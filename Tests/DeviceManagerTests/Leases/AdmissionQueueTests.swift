@testable import DeviceManager
import Foundation
import Synchronization
import Testing

/// Lease creations in a burst queue in order, a few at a time, and a flood is refused past a depth.
@Suite struct AdmissionQueueTests {
    /// Holds admitted bodies until opened.
    final class Gate: Sendable {
        private let stream: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation

        init() { (stream, continuation) = AsyncStream<Void>.makeStream() }

        func wait() async { for await _ in stream {} }
        func open() { continuation.finish() }
    }

    /// What the admitted bodies saw: the order they ran in, and how many ran at once.
    final class Recorder: Sendable {
        let order = Mutex<[Int]>([])
        let running = Mutex((now: 0, most: 0))
    }

    /// Waits (suspended) until `condition` holds; fails the test after 10 s.
    func until(_ what: Comment, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            try #require(ContinuousClock.now < deadline, what)
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func creationsRunInArrivalOrderAndNeverMoreThanTheSlotsAtOnce() async throws {
        let queue = AdmissionQueue(slots: 2, maximumWaiting: 100)
        let gate = Gate()
        let recorder = Recorder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Arrivals one after another: each is queued before the next asks.
            for index in 0..<10 {
                group.addTask {
                    try await queue.run { () async throws(LeaseError) in
                        recorder.running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                        recorder.order.withLock { $0.append(index) }
                        await gate.wait()
                        recorder.running.withLock { $0.now -= 1 }
                    }
                }
                try await until("request \(index) admitted or queued") {
                    let statistics = queue.statistics
                    return statistics.inFlight + statistics.waiting == index + 1
                }
            }
            #expect(queue.statistics.inFlight == 2 && queue.statistics.waiting == 8)
            #expect(recorder.order.withLock { $0 } == [0, 1])
            gate.open()
            try await group.waitForAll()
        }
        #expect(recorder.order.withLock { $0 } == Array(0..<10))
        #expect(recorder.running.withLock { $0.most } == 2)
        let statistics = queue.statistics
        #expect(statistics.admitted == 10 && statistics.inFlight == 0 && statistics.waiting == 0 && statistics.refused == 0)
        #expect(statistics.waited > .zero)
    }

    @Test func pastTheDepthLimitARequestIsRefusedAtOnceNamingTheDepth() async throws {
        let queue = AdmissionQueue(slots: 1, maximumWaiting: 2)
        let gate = Gate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask { try await queue.run { () async throws(LeaseError) in await gate.wait() } }
            }
            try await until("one running, two waiting") { queue.statistics.inFlight == 1 && queue.statistics.waiting == 2 }
            await #expect {
                try await queue.run { () async throws(LeaseError) in }
            } throws: { error in
                guard case LeaseError.queueFull(waiting: 2) = error else { return false }
                return "\(error)".contains("2 lease requests already wait")
            }
            gate.open()
            try await group.waitForAll()
        }
        #expect(queue.statistics == AdmissionQueue.Statistics(
            inFlight: 0, waiting: 0, admitted: 3, refused: 1, waited: queue.statistics.waited))
    }

    @Test func aFailedCreationFreesItsSlotForTheNext() async throws {
        let queue = AdmissionQueue(slots: 1, maximumWaiting: 8)
        await #expect(throws: LeaseError.self) { try await queue.run { () async throws(LeaseError) in throw .empty } }
        let value = try await queue.run { () async throws(LeaseError) in 7 }
        #expect(value == 7 && queue.statistics.inFlight == 0)
    }

    /// Through the manager: a queued request holds its ID (a release or a second create of it is
    /// refused at once, not queued) and other leases are listed and released meanwhile.
    @Test func aQueuedLeaseHoldsItsIDWhileOtherLeasesAreReleasedAtOnce() async throws {
        let scratch = try LeaseScratch()
        let manager = try LeaseManager(configuration: .init(
            stateDirectory: scratch.stateDirectory, allowedRoots: [scratch.root], udevTimeout: .seconds(2),
            uinputPath: "/nonexistent/uinput", concurrentCreations: 1, maximumQueuedCreations: 4))
        let other = try await manager.createInTurn(LeaseRequest(id: FractalID("other"), devices: [], directories: [try scratch.directory()]))
        let gate = Gate()
        let queued = try FractalID("queued")
        let directory = try scratch.directory()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.admissions.run { () async throws(LeaseError) in await gate.wait() } }
            try await until("the slot taken") { manager.admissions.statistics.inFlight == 1 }
            group.addTask {
                let lease = try await manager.createInTurn(LeaseRequest(id: queued, devices: [], directories: [directory]))
                #expect(lease.state == .active)
            }
            try await until("the lease request queued") { manager.admissions.statistics.waiting == 1 }

            #expect { try manager.release(queued) } throws: { error in
                if case LeaseError.busy(queued, .creating) = error { true } else { false }
            }
            await #expect {
                try await manager.createInTurn(LeaseRequest(id: queued, devices: [], directories: [try scratch.directory()]))
            } throws: { error in
                if case LeaseError.duplicate(queued) = error { true } else { false }
            }
            #expect(manager.admissions.statistics.waiting == 1)
            #expect(manager.leases().map(\.id) == [other.id])
            try manager.release(other.id)
            #expect(manager.leases().isEmpty)

            gate.open()
            try await group.waitForAll()
        }
        #expect(manager.leases().map(\.id) == [queued])
        try manager.release(queued)
        #expect(scratch.entries().isEmpty)
    }

    /// A request refused for the queue's depth gives its ID back: the same ID can be asked again.
    @Test func aRequestRefusedForTheDepthLeavesNothingReserved() async throws {
        let scratch = try LeaseScratch()
        let manager = try LeaseManager(configuration: .init(
            stateDirectory: scratch.stateDirectory, allowedRoots: [scratch.root], udevTimeout: .seconds(2),
            uinputPath: "/nonexistent/uinput", concurrentCreations: 1, maximumQueuedCreations: 0))
        let gate = Gate()
        let id = try FractalID("flooded")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.admissions.run { () async throws(LeaseError) in await gate.wait() } }
            try await until("the slot taken") { manager.admissions.statistics.inFlight == 1 }
            await #expect {
                try await manager.createInTurn(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
            } throws: { error in
                if case LeaseError.queueFull(waiting: 0) = error { true } else { false }
            }
            gate.open()
            try await group.waitForAll()
        }
        _ = try await manager.createInTurn(LeaseRequest(id: id, devices: [], directories: [try scratch.directory()]))
        try manager.release(id)
    }
}

/// udevd that is slow but moving keeps a lease waiting; udevd that does nothing fails it.
@Suite struct ProgressDeadlineTests {
    let start = ContinuousClock.now

    @Test func withoutProgressItExpiresOneTimeoutAfterItsStart() {
        let deadline = ProgressDeadline(timeout: .seconds(10), from: start)
        #expect(!deadline.hasExpired(at: start + .seconds(9)))
        #expect(deadline.remaining(at: start + .seconds(9)) == .seconds(1))
        #expect(deadline.hasExpired(at: start + .seconds(10)))
        #expect(deadline.remaining(at: start + .seconds(11)) == .zero)
    }

    @Test func eachProgressRestartsTheFullTimeout() {
        var deadline = ProgressDeadline(timeout: .seconds(10), from: start)
        // Slow: progress every 8 s for 40 s, four times the timeout.
        for step in 1...5 { deadline.progressed(at: start + .seconds(8 * step)) }
        #expect(!deadline.hasExpired(at: start + .seconds(49)))
        #expect(deadline.hasExpired(at: start + .seconds(50)))
        // An instant reported late never moves it back.
        deadline.progressed(at: start + .seconds(1))
        #expect(deadline.remaining(at: start + .seconds(40)) == .seconds(10))
    }
}
