import DeviceManager
import Foundation

/// What running one task for one session takes: the validated definition, the session's
/// FractalID, the directories to provision, the Docker volumes to make and the input devices to lease.
///
/// Making a plan is where a task definition is checked, once: validated, then held to the
/// operator's ``TaskPolicy`` with every path normalised (and, for host paths, resolved with
/// `realpath`; nothing is made). The placeholder is substituted here, once: ``directories``
/// carry the paths the lease makes, and ``containerCreation(at:devices:session:)`` binds the
/// same ones. The caller leases ``deviceRoles`` and ``directories`` (the provisioner enforces
/// the allowed roots again), then asks for each container's Docker create body.
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
    /// What each volume binds, by volume name: a planned directory's path, an allowed host path
    /// (normalised, links followed), or a Docker volume's name.
    public var bindSources: [String: String]
    /// Each container's own `linuxParameters.devices` as approved, by container index.
    public var containerDevices: [[PlannedDevice]]
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

    /// Plans `definition` for the session `id`: validates it and holds it to `taskPolicy`.
    public init(definition: TaskDefinition, id: FractalID, policy taskPolicy: TaskPolicy) throws(TaskDefinitionError) {
        try definition.validate()
        self.id = id
        self.definition = definition
        networkMode = try definition.resolvedNetworkMode()

        deviceRoles = []
        containerDeviceRoles = []
        hotplugRoles = []
        containerHotplugRoles = []
        var policy: InputPolicy?
        var hotplugLabel: String?
        for (index, container) in definition.containerDefinitions.enumerated() {
            let path = "containerDefinitions[\(index)].dockerLabels"
            let roles = try DeviceRolesLabel.roles(in: container.dockerLabels, path: path)
            containerDeviceRoles.append(roles)
            Self.merge(roles, into: &deviceRoles)
            let hotplug = try DeviceRolesLabel.roles(
                in: container.dockerLabels, path: path, key: DeviceRolesLabel.hotplugKey, defaults: [])
            containerHotplugRoles.append(hotplug)
            Self.merge(hotplug, into: &hotplugRoles)
            if !hotplug.isEmpty && hotplugLabel == nil { hotplugLabel = "\(path)[\"\(DeviceRolesLabel.hotplugKey)\"]" }
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
        for role in hotplugRoles where deviceRoles.contains(role) && !role.isGamepad {
            throw .invalid(
                path: "containerDefinitions[].dockerLabels[\"\(DeviceRolesLabel.hotplugKey)\"]",
                reason: "names '\(role.rawValue)', which a container also asks for plugged in (fractal.devices); a lease has one device of each role")
        }
        self.policy = policy ?? .standard

        let approved = try taskPolicy.approve(definition, id: id, networkMode: networkMode, hotplugLabel: hotplugLabel)
        directories = approved.directories
        dockerVolumes = approved.dockerVolumes
        bindSources = approved.bindSources
        containerDevices = approved.devices
    }

    /// Adds `roles` to the session's: as many devices of each role as the container that asks
    /// for the most (containers share the session's devices; each gets every one of its roles).
    private static func merge(_ roles: [DeviceRole], into merged: inout [DeviceRole]) {
        var asked: [DeviceRole: Int] = [:]
        for role in roles {
            asked[role, default: 0] += 1
            if merged.filter({ $0 == role }).count < asked[role, default: 0] { merged.append(role) }
        }
    }

    /// A path in the container: absolute, no `..`, no `:` (Docker's bind separator).
    private static func validateContainerDirectory(_ directory: String, path: String) throws(TaskDefinitionError) {
        guard directory.hasPrefix("/"), directory != "/", !directory.contains(":"),
              !directory.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw .invalid(path: path, reason: "must be an absolute container path without '.', '..' or ':'")
        }
    }

    /// Parses ECS JSON and plans it for the session `id`: the one entry from bytes to a checked
    /// plan (syntax, ECS features, validation, `policy`), each step once.
    public init(json: Data, id: FractalID, policy: TaskPolicy) throws(TaskDefinitionError) {
        try self.init(definition: TaskDefinitionParser.decode(json), id: id, policy: policy)
    }

    /// Parses ECS JSON held in a string and plans it for the session `id`.
    public init(json: String, id: FractalID, policy: TaskPolicy) throws(TaskDefinitionError) {
        try self.init(json: Data(json.utf8), id: id, policy: policy)
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
    /// `host.sourcePath`, normalised (`//`, `.` and a trailing `/` dropped), placeholder included.
    public var template: String
    /// ``template`` with the placeholder replaced by the FractalID: where the lease makes the
    /// directory and what the container binds.
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
