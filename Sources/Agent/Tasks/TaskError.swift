import DeviceManager

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
