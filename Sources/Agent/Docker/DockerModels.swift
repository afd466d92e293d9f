/// `GET /version`: what dockerd says about itself (the fields fractal-agent reports).
/// Field names in this file are Docker's own, so the JSON decodes without key mapping.
public struct DockerVersion: Codable, Sendable, Equatable {
    public var Version: String
    public var ApiVersion: String
    public var MinAPIVersion: String?
    public var Os: String?
    public var Arch: String?
    public var KernelVersion: String?
}

/// `GET /images/{name}/json`, the fields fractal-agent uses.
public struct ImageInspection: Codable, Sendable, Equatable {
    public var Id: String
    public var RepoTags: [String]?
    public var Created: String?
    public var Size: Int64?
}

/// `POST /containers/create`'s answer.
public struct ContainerCreated: Codable, Sendable, Equatable {
    public var Id: String
    public var Warnings: [String]?
}

/// One entry of `GET /containers/json`.
public struct ContainerSummary: Codable, Sendable, Equatable {
    public var Id: String
    public var Names: [String]?
    public var Image: String?
    /// `created`, `running`, `exited`, ...
    public var State: String?
    /// Docker's words, such as `Exited (0) 3 seconds ago`.
    public var Status: String?
    public var Labels: [String: String]?
}

/// `GET /containers/{id}/json`, the fields fractal-agent uses.
public struct ContainerInspection: Codable, Sendable, Equatable {
    public var Id: String
    public var Name: String
    public var State: ContainerState
    public var Config: Configuration
    public var HostConfig: HostSettings

    /// `State`: whether it runs, and how it ended.
    public struct ContainerState: Codable, Sendable, Equatable {
        public var Status: String
        public var Running: Bool
        public var ExitCode: Int
        public var Pid: Int?
        public var OOMKilled: Bool?
        public var Error: String?
        public var StartedAt: String?
        public var FinishedAt: String?
    }

    /// `Config`: what it was created with.
    public struct Configuration: Codable, Sendable, Equatable {
        public var Image: String?
        public var Env: [String]?
        public var Labels: [String: String]?
    }

    /// `HostConfig`: what it may touch on the host.
    public struct HostSettings: Codable, Sendable, Equatable {
        public var Devices: [ContainerCreateRequest.DeviceMapping]?
        public var Binds: [String]?
        public var NetworkMode: String?
    }
}

/// `POST /containers/{id}/wait`'s answer.
struct ContainerWaitResponse: Codable, Sendable {
    var StatusCode: Int
    var Error: WaitError?

    struct WaitError: Codable, Sendable {
        var Message: String?
    }
}

/// Docker's error body.
struct DockerMessage: Codable, Sendable {
    var message: String
}

/// One line of a streamed pull or import answer.
struct DockerProgressLine: Codable, Sendable {
    var status: String?
    var error: String?
    var errorDetail: Detail?

    struct Detail: Codable, Sendable {
        var message: String?
    }
}

/// `POST /volumes/create`'s body.
struct VolumeCreateRequest: Codable, Sendable {
    var Name: String
    var Driver: String?
    var DriverOpts: [String: String]?
    var Labels: [String: String]?
}
