import DeviceManager

/// Names Docker accepts for containers and volumes: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
public enum DockerName {
    /// Joins `parts` with `-`, replacing every character Docker does not accept with `-`.
    public static func make(_ parts: [String]) -> String {
        let joined = parts.joined(separator: "-")
        var scalars = String.UnicodeScalarView()
        for scalar in joined.unicodeScalars {
            let allowed = scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || scalar == "_" || scalar == "." || scalar == "-")
            scalars.append(allowed ? scalar : "-")
        }
        var name = String(scalars)
        if let first = name.unicodeScalars.first, first == "_" || first == "." || first == "-" {
            name = "x" + name
        }
        return name.isEmpty ? "x" : name
    }

    /// The container name for `container` of the session `id`: `fractal-<id>-<container>`.
    public static func container(id: String, container: String) -> String {
        make(["fractal", id, container])
    }
}

/// The labels fractal-agent puts on every container it creates; a task cannot set them itself.
public enum ContainerLabel {
    /// The session's FractalID: how containers are found again after a restart.
    public static let id = ContainerGrant.idLabel
    /// The task definition's family.
    public static let task = "fractal.task"
    /// The container's name in the task definition.
    public static let container = "fractal.container"
    /// Every label fractal-agent sets; task definitions may not set them.
    public static let reserved = [id, task, container]
}
