import DeviceManager

/// Why a task definition was refused. Every case names where: a line and column for malformed
/// JSON, otherwise the field path inside the task definition (`volumes[1].host.sourcePath`).
public enum TaskDefinitionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text is not JSON.
    case malformedJSON(line: Int, column: Int, reason: String)
    /// An ECS feature fractal-agent knows but does not run; `reason` says why or what to do instead.
    case unsupported(path: String, reason: String?)
    /// A field has a value that cannot work.
    case invalid(path: String, reason: String)
    /// A FractalID placeholder outside `volumes[].host.sourcePath`, the only field that takes one.
    case misplacedPlaceholder(path: String, volume: String?)
    /// A field asks for more of the host than the operator's ``TaskPolicy`` grants; `allowedBy`
    /// names the daemon's flag that would grant it, where one exists.
    case refused(path: String, reason: String, allowedBy: String?)

    public var description: String {
        switch self {
        case .malformedJSON(let line, let column, let reason):
            return "task definition is not valid JSON: line \(line), column \(column): \(reason)"
        case .unsupported(let path, let reason):
            return "\(path) is not supported by fractal-agent" + (reason.map { ": \($0)" } ?? "")
        case .invalid(let path, let reason):
            return "\(path) \(reason)"
        case .misplacedPlaceholder(let path, let volume):
            let subject = volume.map { "volume '\($0)': \(path)" } ?? path
            return "\(subject) contains a FractalID placeholder; only volumes[].host.sourcePath takes "
                + "\(Placeholder.fractalID) or \(Placeholder.containerSpecificDirectory)"
                + (volume == nil ? " (the container gets its ID in the FRACTAL_ID environment variable)" : "")
        case .refused(let path, let reason, let flag):
            return "\(path) \(reason)" + (flag.map { "; the operator may allow it with fractal-agent \($0)" } ?? "")
        }
    }

    /// The field path (or `line:column` for malformed JSON).
    public var path: String {
        switch self {
        case .malformedJSON(let line, let column, _): return "\(line):\(column)"
        case .unsupported(let path, _), .invalid(let path, _), .misplacedPlaceholder(let path, _), .refused(let path, _, _): return path
        }
    }
}
