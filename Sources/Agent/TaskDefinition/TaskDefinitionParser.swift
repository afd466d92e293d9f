import DeviceManager
import Foundation

/// Reads a task definition from ECS's JSON: checks syntax (with line and column), refuses ECS
/// features fractal-agent does not run, decodes the typed model and validates it. What the
/// definition may ask of the host (binds, capabilities, devices, security options, sysctls,
/// ulimits) is the operator's ``TaskPolicy``, checked when the task is planned.
///
/// Supported: `family`, `networkMode` (`host`, `bridge`, `none`; absent means `none`), task-level
/// `cpu`/`memory` for a single-container task, `volumes[]` (`host.sourcePath` with or without a
/// FractalID placeholder, Docker-managed, `dockerVolumeConfiguration`), and per container `name`,
/// `image`, `command`, `entryPoint`, `environment`, `mountPoints` (a `:rshared`-style suffix too),
/// `linuxParameters` (`devices` other than input devices, `capabilities`, `initProcessEnabled`,
/// `sharedMemorySize`, `tmpfs`), `memory`, `memoryReservation`, `cpu`, `user`, `workingDirectory`,
/// `dockerLabels` (`fractal.devices` picks input devices), `ulimits`, `essential`, `portMappings`,
/// `healthCheck`, `hostname`, `readonlyRootFilesystem`, `stopTimeout`, `interactive`,
/// `pseudoTerminal`, `disableNetworking`, `extraHosts`, `dnsServers`, `dnsSearchDomains`,
/// `dockerSecurityOptions`, `systemControls`, `logConfiguration` (drivers built into dockerd).
///
/// Refused by name (listed in `UnsupportedFeatures`): AWS-only features such as `secrets`,
/// `repositoryCredentials`, EFS/FSx volumes, and `links`, `volumesFrom`, `dependsOn`, `privileged`,
/// `pidMode`, `ipcMode`, swap limits; `networkMode` `awsvpc`; and log drivers that need AWS.
///
/// Ignored: scheduling and IAM fields (`requiresCompatibilities`, `placementConstraints`,
/// `executionRoleArn`, `taskRoleArn`, `runtimePlatform`, `ephemeralStorage`), `startTimeout`
/// (meaningless without `dependsOn`), describe-only fields (`revision`, `status`, ...) and unknown fields.
public enum TaskDefinitionParser {
    /// Parses and validates `data`: a task definition object, or `aws ecs describe-task-definition`
    /// output (an object with the definition under `taskDefinition`). To run a task, plan it
    /// instead (``TaskPlan/init(json:id:policy:)``): that also holds it to the operator's policy.
    public static func parse(_ data: Data) throws(TaskDefinitionError) -> TaskDefinition {
        let definition = try decode(data)
        try definition.validate()
        return definition
    }

    /// Checks syntax and refused ECS features and decodes the typed model; not yet validated.
    static func decode(_ data: Data) throws(TaskDefinitionError) -> TaskDefinition {
        let root: JSONValue
        do {
            root = try JSONValue.parse([UInt8](data))
        } catch {
            throw .malformedJSON(line: error.line, column: error.column, reason: error.reason)
        }
        guard case .object = root else {
            throw .invalid(path: "(top level)", reason: "must be a JSON object (a task definition)")
        }
        // describe-task-definition wraps the definition; RegisterTaskDefinition input does not.
        let wrapped: Bool
        if case .object? = root["taskDefinition"], root["containerDefinitions"] == nil {
            wrapped = true
        } else {
            wrapped = false
        }
        let document = wrapped ? root["taskDefinition"]! : root

        try UnsupportedFeatures.check(document)
        return try decode(data, wrapped: wrapped)
    }

    /// Parses a task definition held in a string.
    public static func parse(_ text: String) throws(TaskDefinitionError) -> TaskDefinition {
        try parse(Data(text.utf8))
    }

    private struct Envelope: Decodable {
        var taskDefinition: TaskDefinition
    }

    private static func decode(_ data: Data, wrapped: Bool) throws(TaskDefinitionError) -> TaskDefinition {
        do {
            let decoder = JSONDecoder()
            return wrapped
                ? try decoder.decode(Envelope.self, from: data).taskDefinition
                : try decoder.decode(TaskDefinition.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, dropFirst: wrapped ? 1 : 0)
        } catch let error as TaskDefinitionError {
            throw error
        } catch {
            throw .invalid(path: "(top level)", reason: "could not be decoded: \(error)")
        }
    }

    /// Turns a `DecodingError` into the field path a person can find in the file.
    private static func describe(_ error: DecodingError, dropFirst: Int) -> TaskDefinitionError {
        func path(_ codingPath: [any CodingKey]) -> String {
            FieldPath.render(codingPath.dropFirst(dropFirst).map { key in
                key.intValue.map(FieldPath.Component.index) ?? .key(key.stringValue)
            })
        }
        switch error {
        case .typeMismatch(let type, let context):
            return .invalid(path: path(context.codingPath), reason: "should be \(describeType(type))")
        case .valueNotFound(let type, let context):
            return .invalid(path: path(context.codingPath), reason: "is null; it should be \(describeType(type))")
        case .keyNotFound(let key, let context):
            return .invalid(path: path(context.codingPath + [key]), reason: "is required")
        case .dataCorrupted(let context):
            return .invalid(path: path(context.codingPath), reason: "is not valid: \(context.debugDescription)")
        @unknown default:
            return .invalid(path: "(top level)", reason: "could not be decoded: \(error)")
        }
    }

    private static func describeType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "an integer"
        case is Bool.Type: return "true or false"
        case is [String].Type: return "an array of strings"
        case is [String: String].Type: return "an object of strings"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}

/// Field paths as written in errors: `containerDefinitions[0].mountPoints[2].sourceVolume`.
enum FieldPath {
    enum Component {
        case key(String)
        case index(Int)
    }

    static func render(_ components: [Component]) -> String {
        var text = ""
        for component in components {
            switch component {
            case .index(let index): text += "[\(index)]"
            case .key(let key):
                if isPlainName(key) {
                    text += text.isEmpty ? key : ".\(key)"
                } else {
                    // Label keys such as `fractal.devices` would read as two fields.
                    text += "[\"\(key)\"]"
                }
            }
        }
        return text.isEmpty ? "(top level)" : text
    }

    private static func isPlainName(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" }
    }
}

/// ECS features fractal-agent knows and refuses, found by name in the JSON (so the refusal
/// names the field even where the typed model has no place for it). A field that is null, `[]`,
/// `{}` or `false` is treated as absent: ECS's own output writes unset fields that way.
enum UnsupportedFeatures {
    /// Task-level fields refused, with why.
    static let task: [(String, String)] = [
        ("proxyConfiguration", "App Mesh proxies need AWS"),
        ("inferenceAccelerators", "Elastic Inference needs AWS"),
        ("pidMode", "containers get their own PID namespace"),
        ("ipcMode", "containers get their own IPC namespace"),
    ]

    /// Container-level fields refused, with why.
    static let container: [(String, String)] = [
        ("links", "legacy links need the bridge network's name resolution; use networkMode host or bridge ports"),
        ("volumesFrom", "mount the task's volumes with mountPoints instead"),
        ("secrets", "secrets come from AWS Secrets Manager or SSM; pass values in environment or a mounted file"),
        ("repositoryCredentials", "registry credentials come from AWS Secrets Manager; load the image on the host with docker load"),
        ("dependsOn", "containers are started in order without waiting on conditions"),
        ("environmentFiles", "environment files are fetched from S3; use environment"),
        ("resourceRequirements", "GPUs and accelerators are not scheduled by fractal-agent"),
        ("firelensConfiguration", "FireLens log routing needs AWS"),
        ("credentialSpecs", "gMSA credentials need Active Directory"),
        ("restartPolicy", "fractal-agent ends the session when its container stops"),
        ("privileged", "a privileged container sees every host device; input devices come from the session's lease"),
    ]

    static let linuxParameters: [(String, String)] = [
        ("maxSwap", "swap limits are not mapped"),
        ("swappiness", "swap limits are not mapped"),
    ]

    static let volume: [(String, String)] = [
        ("efsVolumeConfiguration", "EFS needs AWS; use host.sourcePath"),
        ("fsxWindowsFileServerVolumeConfiguration", "FSx for Windows needs AWS; use host.sourcePath"),
        ("configuredAtLaunch", "EBS volumes need AWS; use host.sourcePath"),
    ]

    static func check(_ document: JSONValue) throws(TaskDefinitionError) {
        // Placeholders first: a placeholder in an EFS volume should be told where placeholders go.
        try checkPlaceholders(document, path: [], volume: nil)

        try refuse(task, in: document, at: [])
        if case .array(let volumes)? = document["volumes"] {
            for (index, volume) in volumes.enumerated() {
                try refuse(self.volume, in: volume, at: [.key("volumes"), .index(index)])
            }
        }
        guard case .array(let containers)? = document["containerDefinitions"] else { return }
        for (index, container) in containers.enumerated() {
            let base: [FieldPath.Component] = [.key("containerDefinitions"), .index(index)]
            try refuse(self.container, in: container, at: base)
            if let parameters = container["linuxParameters"] {
                try refuse(linuxParameters, in: parameters, at: base + [.key("linuxParameters")])
            }
            if case .array(let mappings)? = container["portMappings"] {
                for (mappingIndex, mapping) in mappings.enumerated() {
                    try refuse(
                        [("containerPortRange", "map each port with containerPort")], in: mapping,
                        at: base + [.key("portMappings"), .index(mappingIndex)])
                }
            }
            if let logging = container["logConfiguration"] {
                try refuse(
                    [("secretOptions", "log driver secrets come from AWS")], in: logging,
                    at: base + [.key("logConfiguration")])
            }
        }
    }

    private static func isSet(_ value: JSONValue) -> Bool {
        if value.isEmpty { return false }
        if case .bool(false) = value { return false }
        return true
    }

    private static func refuse(
        _ fields: [(String, String)], in object: JSONValue, at path: [FieldPath.Component]
    ) throws(TaskDefinitionError) {
        for (field, reason) in fields {
            if let value = object[field], isSet(value) {
                throw .unsupported(path: FieldPath.render(path + [.key(field)]), reason: reason)
            }
        }
    }

    private static func checkPlaceholders(
        _ value: JSONValue, path: [FieldPath.Component], volume: String?
    ) throws(TaskDefinitionError) {
        switch value {
        case .string(let text):
            guard Placeholder.containsPlaceholder(text) else { return }
            // The one place a placeholder belongs: volumes[i].host.sourcePath.
            if path.count == 4, case .key("volumes") = path[0], case .key("host") = path[2], case .key("sourcePath") = path[3] {
                return
            }
            throw .misplacedPlaceholder(path: FieldPath.render(path), volume: volume)
        case .array(let items):
            for (index, item) in items.enumerated() {
                var itemVolume = volume
                if path.count == 1, case .key("volumes") = path[0], case .string(let name)? = item["name"] {
                    itemVolume = name
                }
                try checkPlaceholders(item, path: path + [.index(index)], volume: itemVolume)
            }
        case .object(let members):
            for member in members {
                // A placeholder in a key (a label name, say) is as misplaced as one in a value.
                if Placeholder.containsPlaceholder(member.key) {
                    throw .misplacedPlaceholder(path: FieldPath.render(path + [.key(member.key)]), volume: volume)
                }
                try checkPlaceholders(member.value, path: path + [.key(member.key)], volume: volume)
            }
        case .null, .bool, .number:
            return
        }
    }
}
