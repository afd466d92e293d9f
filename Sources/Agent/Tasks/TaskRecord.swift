import DeviceManager
import Foundation

/// A running task as the agent reports it: its FractalID, containers and lease.
public struct TaskRecord: Codable, Sendable {
    public struct Container: Codable, Sendable {
        /// The name in the task definition.
        public var name: String
        /// Docker's container ID.
        public var id: String
        public var dockerName: String
    }

    public var id: FractalID
    public var family: String
    public var containers: [Container]
    public var startedAt: Date
    /// The devices and directories the task's containers use.
    public var lease: Lease?

    public init(id: FractalID, family: String, containers: [Container], startedAt: Date, lease: Lease?) {
        self.id = id
        self.family = family
        self.containers = containers
        self.startedAt = startedAt
        self.lease = lease
    }
}

/// Why a task could not be run or stopped. Nothing is left behind by any of them.
public enum TaskError: Error, CustomStringConvertible, Sendable {
    case definition(TaskDefinitionError)
    case lease(LeaseError)
    case docker(DockerError)
    case creation(ContainerCreationError)
    case notFound(FractalID)
    case duplicate(FractalID)

    public var description: String {
        switch self {
        case .definition(let error): return "task definition: \(error)"
        case .lease(let error): return "\(error)"
        case .docker(let error): return "\(error)"
        case .creation(let error): return "\(error)"
        case .notFound(let id): return "no task with FractalID \(id)"
        case .duplicate(let id): return "a task with FractalID \(id) already runs"
        }
    }
}
