/// A deadline that progress moves on: it expires only after `timeout` without any.
///
/// A lease waits on udevd with one: udevd that works through a burst's uevents is slow, not
/// stuck, and every device of ours it finishes restarts the count. It starts when the wait does,
/// that is when the lease's turn in the admission queue has come, never when the request arrived.
struct ProgressDeadline {
    let timeout: Duration
    private(set) var deadline: ContinuousClock.Instant

    init(timeout: Duration, from start: ContinuousClock.Instant = .now) {
        self.timeout = timeout
        deadline = start + timeout
    }

    /// Something moved at `instant`: the full timeout runs again from there.
    mutating func progressed(at instant: ContinuousClock.Instant = .now) {
        deadline = max(deadline, instant + timeout)
    }

    /// What is left at `instant`; zero once it has passed.
    func remaining(at instant: ContinuousClock.Instant = .now) -> Duration {
        max(deadline - instant, .zero)
    }

    func hasExpired(at instant: ContinuousClock.Instant = .now) -> Bool {
        instant >= deadline
    }
}
