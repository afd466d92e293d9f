/// How many samples each section takes: the full run, or `--quick` to check the harness.
/// Every goal is a ratio over paired rounds, so rounds (not samples) are what the spread needs.
struct Sizes {
    /// Events per round and rounds, per injection path.
    var injectionEvents: Int
    var injectionRounds: Int
    /// Frames per pass for a game pad's cost per frame (uhid and uinput pads; rounds as injection's).
    var padFrames: Int
    /// Events per round for python3-evdev (slower by far).
    var pythonEvents: Int
    /// Frames per latency pass, and rounds of passes (each path paired with a floor pass).
    var latencyFrames: Int
    var latencyRounds: Int
    /// Leases per path for the lease latency (one of each per round).
    var leaseSamples: Int
    /// Rounds of bare devices with the current udev rules and with the previous rule's program.
    var ruleRounds: Int
    /// Containers per path for the container start (one of each per round).
    var containerSamples: Int
    /// Leases timed at each scale level.
    var scaleSamples: Int
    /// The live-lease counts the scale section measures at.
    var scaleLevels: [Int]
    /// Whether the scale section looks for the point where the kernel says no.
    var findLimit: Bool
    /// Background leases streaming while one more lease's latency is measured, and rounds of it.
    var streamingLeases: Int
    var streamingRounds: Int
    /// Burst sizes, how many rounds the first is paired with sequential leases, and how many
    /// sequential leases a round's baseline takes.
    var burstSizes: [Int]
    var burstRounds: Int
    var sequentialLeases: Int

    static let full = Sizes(
        injectionEvents: 16384, injectionRounds: 21, padFrames: 2048, pythonEvents: 4096, latencyFrames: 400, latencyRounds: 15,
        leaseSamples: 150, ruleRounds: 30, containerSamples: 20, scaleSamples: 15, scaleLevels: [1, 100, 300], findLimit: true,
        streamingLeases: 50, streamingRounds: 15, burstSizes: [50, 150], burstRounds: 2, sequentialLeases: 50)

    static let quick = Sizes(
        injectionEvents: 2048, injectionRounds: 5, padFrames: 256, pythonEvents: 1024, latencyFrames: 100, latencyRounds: 3,
        leaseSamples: 10, ruleRounds: 4, containerSamples: 3, scaleSamples: 5, scaleLevels: [1, 10, 30], findLimit: false,
        streamingLeases: 10, streamingRounds: 3, burstSizes: [10, 30], burstRounds: 1, sequentialLeases: 10)
}
