extension Duration {
    /// Whole nanoseconds (negative durations count as zero), for deadlines on a monotonic clock
    /// and for APIs that take nanoseconds.
    public var wholeNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000
    }

    /// Seconds with their fraction, for messages and metrics.
    public var fractionalSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
