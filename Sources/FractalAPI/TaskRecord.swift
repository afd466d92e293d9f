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

        public init(name: String, id: String, dockerName: String) {
            self.name = name
            self.id = id
            self.dockerName = dockerName
        }
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
