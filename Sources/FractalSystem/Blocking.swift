import Dispatch

/// Threads for the calls that block (uinput ioctls, udev waits, mounts, SQLite, connect), so they
/// never hold one of the cooperative pool's few threads while a lease waits for udevd.
private let blockingQueue = DispatchQueue(label: "fractal.blocking", qos: .userInitiated, attributes: .concurrent)

/// Runs a blocking call off the cooperative thread pool and awaits its result.
public func runBlocking<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        blockingQueue.async { continuation.resume(with: Result { try body() }) }
    }
}
