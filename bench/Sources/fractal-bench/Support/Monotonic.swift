import CBenchBaselines

/// CLOCK_MONOTONIC, shared by every process in the VM: the one clock all figures are taken on.
enum Monotonic {
    static var nanoseconds: Int64 { cbench_now_ns() }

    /// Runs `body` and returns how long it took, in milliseconds.
    static func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        let start = nanoseconds
        try body()
        return Double(nanoseconds - start) / 1e6
    }

    /// Runs `body` and returns its value and how long it took, in milliseconds.
    static func milliseconds<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
        let start = nanoseconds
        let value = try await body()
        return (value, Double(nanoseconds - start) / 1e6)
    }
}
