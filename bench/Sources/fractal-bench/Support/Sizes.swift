/// How many samples each section takes: the full run, or `--quick` to check the harness.
struct Sizes {
    /// Events per round and rounds, per injection path.
    var injectionEvents: Int
    var injectionRounds: Int
    /// Events per round for python3-evdev (slower by far).
    var pythonEvents: Int
    /// Frames per latency pass.
    var latencyFrames: Int
    /// Leases per path for the lease latency.
    var leaseSamples: Int
    /// Containers per path for the container start.
    var containerSamples: Int
    /// Leases timed at each scale level.
    var scaleSamples: Int
    /// The live-lease counts the scale section measures at.
    var scaleLevels: [Int]
    /// Whether the scale section looks for the point where the kernel says no.
    var findLimit: Bool

    static let full = Sizes(
        injectionEvents: 16384, injectionRounds: 7, pythonEvents: 4096, latencyFrames: 1000,
        leaseSamples: 200, containerSamples: 10, scaleSamples: 15, scaleLevels: [1, 100, 300], findLimit: true)

    static let quick = Sizes(
        injectionEvents: 2048, injectionRounds: 3, pythonEvents: 1024, latencyFrames: 200,
        leaseSamples: 20, containerSamples: 3, scaleSamples: 5, scaleLevels: [1, 10, 30], findLimit: false)
}
