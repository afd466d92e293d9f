/// Percentiles by sorting and indexing (nearest rank): the sample counts here are small enough.
enum Statistics {
    /// The `p`th percentile (0...100) of `values`, nearest rank; nil when there are none.
    static func percentile(_ values: [Double], _ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank - 1, 0), sorted.count - 1)]
    }

    static func median(_ values: [Double]) -> Double? {
        percentile(values, 50)
    }

    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// `measured[i] / baseline[i]` for every round where both are there and the baseline is positive.
    static func pairedRatios(_ measured: [Double], _ baseline: [Double]) -> [Double] {
        zip(measured, baseline).compactMap { $1 > 0 ? $0 / $1 : nil }
    }
}

/// A figure over rounds with its spread: what a goal is judged on. A single run's median on a
/// shared 2-core host flips between reruns; the unfavourable end of the spread does so far less.
struct Spread {
    enum Kind {
        /// The median of per-round values, between their lower and upper quartile.
        case interquartile
        /// A statistic of all rounds, between the 2.5th and 97.5th percentile of the same statistic
        /// over rounds drawn again with replacement (paired: a round's two paths stay together).
        case bootstrap95
        /// One measurement: no spread.
        case single
    }

    var value: Double
    var low: Double
    var high: Double
    var kind: Kind
    /// How many rounds the figure comes from.
    var rounds: Int

    /// The median of `values` between their quartiles; nil when there are none.
    static func interquartile(_ values: [Double]) -> Spread? {
        guard let median = Statistics.median(values), let low = Statistics.percentile(values, 25),
              let high = Statistics.percentile(values, 75) else { return nil }
        return Spread(value: median, low: low, high: high, kind: .interquartile, rounds: values.count)
    }

    static func single(_ value: Double?) -> Spread? {
        value.map { Spread(value: $0, low: $0, high: $0, kind: .single, rounds: 1) }
    }

    /// `statistic` of rounds 0..<rounds, with a 95 % percentile-bootstrap interval: 2,000 draws of
    /// `rounds` round indices with replacement, from a fixed seed so a rerun on the same figures
    /// prints the same interval.
    static func bootstrap(rounds: Int, _ statistic: ([Int]) -> Double?) -> Spread? {
        guard rounds > 0, let value = statistic(Array(0..<rounds)) else { return nil }
        var generator = SplitMix64(seed: 0x6672_6163_7461_6c21)
        var draws: [Double] = []
        draws.reserveCapacity(2000)
        for _ in 0..<2000 {
            let indices = (0..<rounds).map { _ in Int.random(in: 0..<rounds, using: &generator) }
            if let drawn = statistic(indices), drawn.isFinite { draws.append(drawn) }
        }
        guard let low = Statistics.percentile(draws, 2.5), let high = Statistics.percentile(draws, 97.5) else { return nil }
        return Spread(value: value, low: low, high: high, kind: .bootstrap95, rounds: rounds)
    }

    /// The median of per-round values with a 95 % bootstrap interval of that median: for rounds
    /// of one sample a path (a lease, a container start), whose interquartile range is the spread
    /// of single samples rather than of the figure, and does not narrow with more rounds.
    static func medianBootstrap(_ values: [Double]) -> Spread? {
        bootstrap(rounds: values.count) { indices in Statistics.median(indices.map { values[$0] }) }
    }

    /// `p`th percentile of `measured` over that of `baseline`, paired by round, bootstrapped.
    static func percentileRatio(_ measured: [Double], _ baseline: [Double], _ p: Double) -> Spread? {
        let rounds = min(measured.count, baseline.count)
        return bootstrap(rounds: rounds) { indices in
            ratio(Statistics.percentile(indices.map { measured[$0] }, p), Statistics.percentile(indices.map { baseline[$0] }, p))
        }
    }

    /// How the spread was taken, for a table cell: `IQR 1.02–1.19×, 21 rounds`.
    func cell(_ format: (Double) -> String) -> String {
        switch kind {
        case .interquartile: "IQR \(format(low))–\(format(high)), \(rounds) rounds"
        case .bootstrap95: "95 % bootstrap \(format(low))–\(format(high)), \(rounds) rounds"
        case .single: "one run"
        }
    }
}

/// SplitMix64: a small seeded generator, so the bootstrap's draws are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A set of durations, in milliseconds or microseconds as the caller decides.
struct Samples {
    var values: [Double] = []

    var count: Int { values.count }
    var p50: Double? { Statistics.percentile(values, 50) }
    var p99: Double? { Statistics.percentile(values, 99) }
    var maximum: Double? { values.max() }

    mutating func append(_ value: Double) { values.append(value) }
}
