import Agent
import Foundation

/// Why a Docker VM test could not do its job.
struct DockerVMTestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Fails the calling test unless it runs inside the project's VM with dockerd: these tests
/// start real containers and must never pass by doing nothing elsewhere.
func requireDockerVM() throws {
    try requireVM()
    guard FileManager.default.fileExists(atPath: DockerClient.defaultSocketPath) else {
        throw DockerVMTestFailure(
            description: "no dockerd socket at \(DockerClient.defaultSocketPath) in the VM: boot it with scripts/vm/run --docker")
    }
}

/// Runs `body`, failing with `what` if it takes longer than `seconds` (the VM is slow, not stuck).
func withDockerDeadline<T: Sendable>(
    _ seconds: Int, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DockerVMTestFailure(description: "\(what): no result within \(seconds) s")
        }
        return value
    }
}

/// Reads events until one matches, or fails after `seconds`.
func nextDockerEvent(
    in events: DockerEventStream, within seconds: Int, _ what: String,
    where predicate: @escaping @Sendable (DockerEvent) -> Bool
) async throws -> DockerEvent {
    try await withDockerDeadline(seconds, what) {
        for try await event in events where predicate(event) {
            return event
        }
        throw DockerVMTestFailure(description: "\(what): the event stream ended")
    }
}
