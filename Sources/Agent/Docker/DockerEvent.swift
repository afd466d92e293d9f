import Foundation

/// One event from dockerd's `GET /events` stream.
public struct DockerEvent: Sendable, Equatable {
    /// `container`, `image`, `network`, ...
    public var type: String
    /// `die`, `destroy`, `start`, ...
    public var action: String
    /// The object's ID: for containers, the container ID.
    public var actorID: String
    /// What Docker attaches: for containers, their labels alongside `name`, `image` and, on `die`, `exitCode`.
    public var attributes: [String: String]
    /// Seconds since the epoch.
    public var time: Int64?

    /// Creates the value from its fields.
    public init(type: String, action: String, actorID: String, attributes: [String: String], time: Int64? = nil) {
        self.type = type
        self.action = action
        self.actorID = actorID
        self.attributes = attributes
        self.time = time
    }

    /// The container's ID, for container events.
    public var containerID: String? { type == "container" ? actorID : nil }

    /// The container's exit status, on `die`.
    public var exitCode: Int? { attributes["exitCode"].flatMap { Int($0) } }

    /// The attributes without the ones Docker adds itself, i.e. the container's labels
    /// (a label named like one of Docker's own attributes cannot be told apart and is left out).
    public var labels: [String: String] {
        attributes.filter { !Self.dockerAttributes.contains($0.key) }
    }

    static let dockerAttributes: Set<String> = ["name", "image", "exitCode", "signal", "execDuration", "container"]

    /// Decodes one line of the stream (Docker API 1.22+: `Type`, `Action`, `Actor`).
    static func decode(line: [UInt8]) -> DockerEvent? {
        struct Wire: Decodable {
            var `Type`: String?
            var Action: String?
            var Actor: Actor?
            var time: Int64?
            struct Actor: Decodable {
                var ID: String?
                var Attributes: [String: String]?
            }
        }
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(line)),
              let type = wire.Type, let action = wire.Action
        else { return nil }
        return DockerEvent(
            type: type, action: action, actorID: wire.Actor?.ID ?? "", attributes: wire.Actor?.Attributes ?? [:], time: wire.time)
    }
}

/// Docker's `filters` query parameter: a JSON object of string lists.
public struct DockerFilters: Sendable, Equatable {
    /// Filter name (`label`, `type`, `event`) to the values any of which may match.
    public var values: [String: [String]]

    /// Creates the value from its fields.
    public init(_ values: [String: [String]] = [:]) { self.values = values }

    /// Containers that carry `label` (`fractal.id`) or `label=value`.
    public static func label(_ label: String) -> DockerFilters { DockerFilters(["label": [label]]) }

    /// Container events of the given actions (`die`, `destroy`).
    public static func containerEvents(_ actions: [String]) -> DockerFilters {
        DockerFilters(["type": ["container"], "event": actions])
    }

    /// The JSON text Docker expects, keys sorted so it is stable.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(values)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// dockerd's event stream: newline-delimited JSON, one ``DockerEvent`` per line, until the
/// consumer stops iterating (which ends the request) or dockerd closes the stream.
public struct DockerEventStream: AsyncSequence, Sendable {
    /// One event per element.
    public typealias Element = DockerEvent
    let stream: AsyncThrowingStream<DockerEvent, any Error>

    /// The events in the order dockerd sends them.
    public func makeAsyncIterator() -> AsyncThrowingStream<DockerEvent, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
