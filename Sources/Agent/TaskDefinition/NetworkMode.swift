/// The network a task's containers join, from the task's `networkMode`.
///
/// fractal-agent defaults to ``none`` when `networkMode` is absent, where ECS on EC2 defaults to
/// `bridge`: a session gets no network it did not ask for, and hosts (like the test VM) may run
/// dockerd with `--bridge=none`. `awsvpc` needs AWS's network interfaces and is refused.
public enum NetworkMode: String, Sendable, Equatable, CaseIterable {
    /// The host's network stack; `portMappings` are informational (hostPort must equal containerPort).
    case host
    /// Loopback only; `portMappings` are refused.
    case none
    /// Docker's default bridge; `portMappings` become published ports.
    case bridge

    /// The mode used when the task does not say.
    public static let `default` = NetworkMode.none
}
