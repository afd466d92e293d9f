import DeviceManager

/// What running one task for one session takes: the validated definition, the session's
/// FractalID, the directories to provision, the Docker volumes to make and the input devices to lease.
///
/// Pure data: making the plan touches nothing. The caller provisions ``directories`` through its
/// directory provisioner (which enforces the allowed roots), leases ``deviceRoles``, and then asks
/// for each container's Docker create body with ``containerCreation(at:devices:directories:)``.
public struct TaskPlan: Sendable, Equatable {
    /// The session the task runs for.
    public var id: FractalID
    /// The definition as written (placeholders unsubstituted); already validated.
    public var definition: TaskDefinition
    /// The task's `networkMode`, or fractal-agent's default (``NetworkMode/none``).
    public var networkMode: NetworkMode
    /// Host directories named through a placeholder, with the placeholder replaced.
    public var directories: [PlannedDirectory]
    /// Docker volumes the task uses (Docker-managed `volumes[]` and `dockerVolumeConfiguration`).
    public var dockerVolumes: [PlannedDockerVolume]
    /// Every input device role any container asked for, in first-asked order: what the lease needs.
    public var deviceRoles: [DeviceRole]
    /// The roles each container asked for, by container index.
    public var containerDeviceRoles: [[DeviceRole]]
    /// Roles made unplugged, for hot-plug while the task runs (`fractal.hotplug`), in first-asked order.
    public var hotplugRoles: [DeviceRole]
    /// The hot-plug roles each container may be given, by container index.
    public var containerHotplugRoles: [[DeviceRole]]
    /// What the session socket lets through (`fractal.input-policy`; the same for every container).
    public var policy: InputPolicy

    /// The task's family: what it is called in labels and logs.
    public var family: String { definition.family }
    /// The task's containers, in definition order.
    public var containers: [ContainerDefinition] { definition.containerDefinitions }

    /// Plans `definition` for the session `id`, validating it first.
    public init(definition: TaskDefinition, id: FractalID) throws(TaskDefinitionError) {
        try definition.validate()
        self.id = id
        self.definition = definition
        networkMode = try definition.resolvedNetworkMode()

        directories = []
        dockerVolumes = []
        for (index, volume) in (definition.volumes ?? []).enumerated() {
            if let sourcePath = volume.host?.sourcePath {
                guard Placeholder.containsPlaceholder(sourcePath) else { continue }
                let hostPath = Placeholder.substitute(sourcePath, id: id)
                // Validation refused '.' and '..' in the template; a FractalID cannot bring one in. Checked
                // again because this path is about to be created on the host.
                try validateHostPath(hostPath, path: "volumes[\(index)].host.sourcePath")
                directories.append(PlannedDirectory(volumeName: volume.name, template: sourcePath, hostPath: hostPath))
            } else {
                dockerVolumes.append(PlannedDockerVolume(volume: volume, id: id))
            }
        }

        deviceRoles = []
        containerDeviceRoles = []
        hotplugRoles = []
        containerHotplugRoles = []
        var policy: InputPolicy?
        for (index, container) in definition.containerDefinitions.enumerated() {
            let path = "containerDefinitions[\(index)].dockerLabels"
            let roles = try DeviceRolesLabel.roles(in: container.dockerLabels, path: path)
            containerDeviceRoles.append(roles)
            for role in roles where !deviceRoles.contains(role) { deviceRoles.append(role) }
            let hotplug = try DeviceRolesLabel.roles(
                in: container.dockerLabels, path: path, key: DeviceRolesLabel.hotplugKey, defaults: [])
            containerHotplugRoles.append(hotplug)
            for role in hotplug where !hotplugRoles.contains(role) { hotplugRoles.append(role) }
            if let name = container.dockerLabels?[DeviceRolesLabel.policyKey] {
                let field = "\(path)[\"\(DeviceRolesLabel.policyKey)\"]"
                guard let named = InputPolicy(rawValue: name) else {
                    throw .invalid(path: field, reason: "names unknown policy '\(name)'; allowed: \(InputPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if let policy, policy != named {
                    throw .invalid(path: field, reason: "differs from another container's; a task's session has one policy")
                }
                policy = named
            }
            if let directory = container.dockerLabels?[DeviceRolesLabel.sessionDirectoryKey] {
                try Self.validateContainerDirectory(directory, path: "\(path)[\"\(DeviceRolesLabel.sessionDirectoryKey)\"]")
            }
        }
        for role in hotplugRoles where deviceRoles.contains(role) {
            throw .invalid(
                path: "containerDefinitions[].dockerLabels[\"\(DeviceRolesLabel.hotplugKey)\"]",
                reason: "names '\(role.rawValue)', which a container also asks for plugged in (fractal.devices); a lease has one device of each role")
        }
        self.policy = policy ?? .standard
    }

    /// A path in the container: absolute, no `..`, no `:` (Docker's bind separator).
    private static func validateContainerDirectory(_ directory: String, path: String) throws(TaskDefinitionError) {
        guard directory.hasPrefix("/"), directory != "/", !directory.contains(":"),
              !directory.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw .invalid(path: path, reason: "must be an absolute container path without '.', '..' or ':'")
        }
    }

    /// Parses ECS JSON and plans it for the session `id`.
    public init(json: String, id: FractalID) throws(TaskDefinitionError) {
        try self.init(definition: TaskDefinitionParser.parse(json), id: id)
    }

    /// The index of the container named `name`.
    public func containerIndex(named name: String) -> Int? {
        containers.firstIndex { $0.name == name }
    }
}

/// A host directory a task's volume names through a FractalID placeholder; the lease creates it.
public struct PlannedDirectory: Sendable, Equatable, Codable {
    /// The task's name for the volume (`volumes[].name`).
    public var volumeName: String
    /// `host.sourcePath` as written, placeholder included.
    public var template: String
    /// `host.sourcePath` with the placeholder replaced by the FractalID.
    public var hostPath: String

    /// Creates the value from its fields.
    public init(volumeName: String, template: String, hostPath: String) {
        self.volumeName = volumeName
        self.template = template
        self.hostPath = hostPath
    }

    /// A plain directory request for the provisioner (mode and owner at their defaults); adjust
    /// it before provisioning if the session needs more (a tmpfs, an owner).
    public var request: DirectoryRequest { DirectoryRequest(template: template) }
}

/// A Docker volume a task mounts: a `volumes[]` entry with no `host.sourcePath`, or with a
/// `dockerVolumeConfiguration`.
public struct PlannedDockerVolume: Sendable, Equatable, Codable {
    /// ECS's `dockerVolumeConfiguration.scope`.
    public enum Scope: String, Sendable, Codable {
        /// Made for the session and removed with it; named after the FractalID.
        case task
        /// Outlives the session; named as the task names it.
        case shared
    }

    /// The task's name for the volume (`volumes[].name`).
    public var volumeName: String
    /// Docker's name for it: `fractal-<id>-<volume>` for task scope, the volume's name for shared.
    public var dockerName: String
    /// Whether the volume goes with the session.
    public var scope: Scope
    /// When false the volume must already exist (shared volumes without `autoprovision`).
    public var mayCreate: Bool
    /// Docker's volume driver; nil means `local`.
    public var driver: String?
    /// `driverOpts`, passed to the driver.
    public var driverOptions: [String: String]
    /// The task's labels plus, for task scope, `fractal.id` so a sweep can find leftovers.
    public var labels: [String: String]

    /// Creates the value from its fields.
    public init(volume: Volume, id: FractalID) {
        let configuration = volume.dockerVolumeConfiguration
        let shared = configuration?.scope == "shared"
        volumeName = volume.name
        scope = shared ? .shared : .task
        dockerName = shared ? volume.name : DockerName.make(["fractal", id.rawValue, volume.name])
        mayCreate = !shared || configuration?.autoprovision == true
        driver = configuration?.driver
        driverOptions = configuration?.driverOpts ?? [:]
        var labels = configuration?.labels ?? [:]
        if !shared {
            labels[ContainerLabel.id] = id.rawValue
        }
        self.labels = labels
    }
}
