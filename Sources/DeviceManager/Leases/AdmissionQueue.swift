import Synchronization

/// Lets a bounded number of lease creations run at once and queues the rest in arrival order.
///
/// udevd processes uevents at a rate set by the host's CPUs; a burst admitted all at once makes
/// every lease wait on all the others' uevents, and their udev deadlines run out together. Queued
/// creations wait suspended (no thread, no lock held), so list, release and inject go on meanwhile.
/// A slot is handed straight to the first waiter when it frees, so no later arrival overtakes it.
public final class AdmissionQueue: Sendable {
    /// What the queue has done, for the daemon's metrics.
    public struct Statistics: Sendable, Equatable {
        /// Creations admitted and not yet finished.
        public var inFlight = 0
        /// Creations waiting for their turn.
        public var waiting = 0
        /// Creations admitted since start.
        public var admitted = 0
        /// Creations refused because `maximumWaiting` were already waiting.
        public var refused = 0
        /// The time admitted creations spent waiting, summed.
        public var waited: Duration = .zero

        public init(inFlight: Int = 0, waiting: Int = 0, admitted: Int = 0, refused: Int = 0, waited: Duration = .zero) {
            self.inFlight = inFlight
            self.waiting = waiting
            self.admitted = admitted
            self.refused = refused
            self.waited = waited
        }
    }

    /// Creations run at once.
    public let slots: Int
    /// Creations that may wait at most; one more is refused, so a flood takes bounded memory.
    public let maximumWaiting: Int

    private struct Waiter {
        let enqueued: ContinuousClock.Instant
        /// Resumed with `false` (not refused) when the slot is handed over.
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var statistics = Statistics()
        /// FIFO: `waiters[head...]` wait; the consumed prefix is dropped now and then.
        var waiters: [Waiter] = []
        var head = 0
    }

    private let state = Mutex(State())

    public init(slots: Int, maximumWaiting: Int) {
        precondition(slots > 0 && maximumWaiting >= 0, "an admission queue needs at least one slot")
        self.slots = slots
        self.maximumWaiting = maximumWaiting
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Runs `body` when its turn comes, after every creation that asked before it.
    ///
    /// Throws `.queueFull` at once when `maximumWaiting` creations already wait. A caller that is
    /// cancelled while waiting keeps its place and still runs: a lease request whose client went
    /// away is still made (its caller releases it by ID), as a half-answered request must not
    /// leave the client guessing whether its lease exists.
    public func run<Value>(_ body: () async throws(LeaseError) -> Value) async throws(LeaseError) -> Value {
        try await admit()
        defer { leave() }
        return try await body()
    }

    private enum Outcome { case admitted, queued, full }

    private func admit() async throws(LeaseError) {
        let start = ContinuousClock.now
        let full = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let outcome: Outcome = state.withLock { state in
                if state.statistics.inFlight < slots && state.statistics.waiting == 0 {
                    state.statistics.inFlight += 1
                    state.statistics.admitted += 1
                    return .admitted
                }
                guard state.statistics.waiting < maximumWaiting else {
                    state.statistics.refused += 1
                    return .full
                }
                state.statistics.waiting += 1
                state.waiters.append(Waiter(enqueued: start, continuation: continuation))
                return .queued
            }
            switch outcome {
            case .admitted: continuation.resume(returning: false)
            case .full: continuation.resume(returning: true)
            case .queued: break
            }
        }
        if full { throw .queueFull(waiting: maximumWaiting) }
    }

    /// Ends a creation: its slot goes to the first waiter, or is freed.
    private func leave() {
        let next: Waiter? = state.withLock { state in
            guard state.head < state.waiters.count else {
                state.statistics.inFlight -= 1
                return nil
            }
            let waiter = state.waiters[state.head]
            state.head += 1
            if state.head > 64 && state.head * 2 > state.waiters.count {
                state.waiters.removeFirst(state.head)
                state.head = 0
            }
            state.statistics.waiting -= 1
            state.statistics.admitted += 1
            state.statistics.waited += ContinuousClock.now - waiter.enqueued
            return waiter
        }
        next?.continuation.resume(returning: false)
    }
}
