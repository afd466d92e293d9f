import Foundation

/// A Docker Engine API version (`1.43`), as `/_ping`'s `API-Version` header and `/version` give it.
public struct DockerAPIVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The part before the dot.
    public var major: Int
    /// The part after the dot.
    public var minor: Int

    /// Creates the value from its fields.
    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `1.43`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else { return nil }
        self.init(major, minor)
    }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: DockerAPIVersion, rhs: DockerAPIVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    /// The oldest API fractal-agent speaks: Docker 20.10, as in Debian 12.
    public static let minimumSupported = DockerAPIVersion(1, 41)
    /// The newest API fractal-agent speaks; newer daemons are addressed at this version.
    public static let maximumSupported = DockerAPIVersion(1, 43)

    /// The version to address a daemon that speaks `server` at: the lower of the two, or nil when
    /// the daemon is older than ``minimumSupported``.
    public static func negotiate(server: DockerAPIVersion, maximum: DockerAPIVersion = maximumSupported) -> DockerAPIVersion? {
        guard server >= minimumSupported else { return nil }
        return min(server, maximum)
    }
}
