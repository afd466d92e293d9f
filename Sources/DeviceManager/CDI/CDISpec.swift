import Foundation

/// A Container Device Interface spec (cncf-tags/container-device-interface, SPEC.md): the JSON a
/// CDI-aware engine (Podman, CRI-O, containerd ≥ 1.7, Docker ≥ 25) reads from `/etc/cdi` or
/// `/var/run/cdi` to give a container the device named on its command line. One spec per lease,
/// rendered from the lease's ``ContainerGrant``.
///
/// Field names are the spec's; readers refuse unknown fields, and refuse a spec whose fields need a
/// newer ``version`` than it states.
public struct CDISpec: Codable, Sendable, Equatable {
    /// 0.5.0: the oldest in which a device name may start with a digit (a random FractalID often
    /// does) and a device node carries a `hostPath`. Debian 12's Podman (4.3) reads it.
    public static let version = "0.5.0"
    /// `fractal.dev/input`: vendor `fractal.dev`, class `input`.
    public static let kind = "fractal.dev/input"

    public var cdiVersion: String
    public var kind: String
    public var devices: [Device]

    public struct Device: Codable, Sendable, Equatable {
        public var name: String
        public var containerEdits: ContainerEdits
    }

    public struct ContainerEdits: Codable, Sendable, Equatable {
        public var env: [String]?
        public var deviceNodes: [DeviceNode]?
        public var mounts: [Mount]?
    }

    public struct DeviceNode: Codable, Sendable, Equatable {
        public var path: String
        public var hostPath: String
        public var type: String
        public var major: UInt32
        public var minor: UInt32
        /// The host node's permission bits, so the container's node matches it (as Docker's does);
        /// without it runtimes make the node 0666.
        public var fileMode: UInt32?
        public var permissions: String
        public var uid: UInt32?
        public var gid: UInt32?
    }

    public struct Mount: Codable, Sendable, Equatable {
        public var hostPath: String
        public var containerPath: String
        public var options: [String]
    }

    /// The fully qualified name an engine takes (`podman run --device fractal.dev/input=<id>`).
    public static func qualifiedName(of id: FractalID) -> String { "\(kind)=\(id.rawValue)" }

    /// Whether `id` is a CDI device name: one beginning and ending with a letter or digit (a
    /// FractalID may end with `-` or `_`, which no CDI reader accepts).
    public static func canName(_ id: FractalID) -> Bool {
        guard let last = id.rawValue.unicodeScalars.last else { return false }
        return ("a"..."z").contains(last) || ("0"..."9").contains(last)
    }

    /// The spec of one lease: its present nodes (a CDI engine cannot grant a number without a
    /// node, so hot-plug slots appear once plugged, in the spec rewritten then), its mounts and env.
    /// - Parameter ownership: each host node's mode and owner, by host path, where known.
    public init(grant: ContainerGrant, ownership: [String: NodeOwnership] = [:]) {
        cdiVersion = Self.version
        kind = Self.kind
        let nodes = grant.presentNodes.map { node in
            let owner = ownership[node.hostPath]
            return DeviceNode(
                path: node.containerPath, hostPath: node.hostPath, type: "c", major: node.major, minor: node.minor,
                fileMode: owner?.mode, permissions: ContainerGrant.Node.permissions, uid: owner?.uid, gid: owner?.gid)
        }
        let mounts = grant.mounts.map { mount in
            // Device nodes, set-ID bits and exec stay as on the host; nosuid and nodev as Docker's binds have them.
            Mount(hostPath: mount.hostPath, containerPath: mount.containerPath, options: ["rbind", mount.readOnly ? "ro" : "rw", "nosuid", "nodev"])
        }
        devices = [
            Device(
                name: grant.id.rawValue,
                containerEdits: ContainerEdits(
                    env: grant.environment.map(\.assignment).nonEmptyOrNil, deviceNodes: nodes.nonEmptyOrNil, mounts: mounts.nonEmptyOrNil))
        ]
    }

    /// A device node's permission bits and owner on the host.
    public struct NodeOwnership: Sendable, Equatable {
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32

        public init(mode: UInt32, uid: UInt32, gid: UInt32) {
            self.mode = mode
            self.uid = uid
            self.gid = gid
        }

        /// The node's mode and owner now (udevd has set them), or nil when it cannot be read.
        public static func of(_ path: String) -> NodeOwnership? {
            var status = stat()
            guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFCHR else { return nil }
            return NodeOwnership(mode: UInt32(status.st_mode & 0o7777), uid: status.st_uid, gid: status.st_gid)
        }
    }
}

extension Array {
    fileprivate var nonEmptyOrNil: Self? { isEmpty ? nil : self }
}
