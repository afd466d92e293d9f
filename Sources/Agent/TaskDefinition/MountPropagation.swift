/// A bind mount's propagation mode, written after the container path as Fractal's task
/// definitions do (`/fractal/cloudStorage:rshared`): the ECS agent passes the text through to
/// Docker's bind syntax, and existing files rely on it.
public enum MountPropagation: String, Sendable, Equatable, CaseIterable {
    case shared, rshared, slave, rslave, `private`, rprivate

    /// Splits `containerPath` into the path and its propagation mode, if it has one.
    /// Returns nil when the text after the last `:` is not a propagation mode.
    public static func split(_ containerPath: String) -> (path: String, propagation: MountPropagation?)? {
        guard let colon = containerPath.lastIndex(of: ":") else { return (containerPath, nil) }
        guard let mode = MountPropagation(rawValue: String(containerPath[containerPath.index(after: colon)...])) else {
            return nil
        }
        return (String(containerPath[..<colon]), mode)
    }
}
