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
