import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Which socket file is at a path now: a kubelet that restarts makes a new `kubelet.sock`, and
/// deletes ours, so an inode that changes (or vanishes) is how either is noticed.
struct SocketIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
    /// A new socket may get the inode number of one just deleted; not also its change time.
    let changed: timespec

    /// The socket at `path`, or nil when there is none (or something else is there).
    init?(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        changed = info.st_ctim
    }

    static func == (a: SocketIdentity, b: SocketIdentity) -> Bool {
        a.device == b.device && a.inode == b.inode && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
    }
}

/// One pool's gRPC server on its endpoint socket in the kubelet's directory.
struct Endpoint: Sendable {
    let path: String
    let identity: SocketIdentity
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let serving: Task<Void, Never>

    private init(path: String, identity: SocketIdentity, server: GRPCServer<HTTP2ServerTransport.Posix>, serving: Task<Void, Never>) {
        self.path = path
        self.identity = identity
        self.server = server
        self.serving = serving
    }

    /// Listens at `path` (replacing a stale socket there) and serves `service` until `stop`.
    static func start(at path: String, service: DevicePluginService) async throws -> Endpoint {
        let transport = HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: path), transportSecurity: .plaintext)
        let server = GRPCServer(transport: transport, services: [service])
        let serving = Task { _ = try? await server.serve() }
        do {
            _ = try await transport.listeningAddress
        } catch {
            serving.cancel()
            await serving.value
            throw error
        }
        // Whoever can connect can make leases: the kubelet (root) only, whatever the umask.
        chmod(path, 0o600)
        guard let identity = SocketIdentity(path) else {
            server.beginGracefulShutdown()
            serving.cancel()
            await serving.value
            throw EndpointGone(path: path)
        }
        return Endpoint(path: path, identity: identity, server: server, serving: serving)
    }

    /// Stops serving (ListAndWatch streams end) and removes the socket if it is still ours.
    func stop() async {
        server.beginGracefulShutdown()
        serving.cancel()
        await serving.value
        if SocketIdentity(path) == identity { unlink(path) }
    }
}

/// The socket vanished between listening and looking at it (the kubelet cleaning its directory).
struct EndpointGone: Error, CustomStringConvertible {
    let path: String
    var description: String { "\(path) disappeared as soon as it was made" }
}
