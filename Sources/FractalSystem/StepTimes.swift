/// When each step of a long operation (a lease, a task's start) ended, for a debug log's
/// account of where its time went: what an operator reads to see whether udevd, Docker or the
/// daemon itself is slow.
public struct StepTimes: Sendable {
    private var steps: [(name: String, at: ContinuousClock.Instant)] = [("", .now)]

    public init() {}

    /// Ends a step named `name` now.
    public mutating func mark(_ name: String) { steps.append((name, .now)) }

    /// "recorded 3.1 ms, devices 41.0 ms, ...": each step's time since the one before.
    public var account: String {
        zip(steps, steps.dropFirst()).map { before, after in
            "\(after.name) \((before.at.duration(to: after.at) / .microseconds(100)).rounded() / 10) ms"
        }.joined(separator: ", ")
    }
}
