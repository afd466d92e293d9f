import DeviceManager
import FractalAPI
import Foundation
import Hummingbird
import NIOCore

/// The API's request context: Hummingbird's, plus the connection it came on, so the caller's
/// credentials can be asked of the kernel.
struct APIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// The caller as the kernel reported it; set by `PeerGate` before any route runs.
    var peer: LeaseOwner?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Who may use the API beyond what the socket's mode lets connect: with `allowedUIDs` set, only
/// root and those users. Every route is behind it, `/_ping` and `/metrics` included: a refused
/// peer learns nothing of the leases, not even how many there are.
struct PeerGate: RouterMiddleware {
    typealias Context = APIRequestContext

    /// nil: whoever can connect (root and the socket's group) may call.
    let allowedUIDs: Set<UInt32>?
    let metrics: DaemonMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let peer: LeaseOwner
        do {
            peer = try await Self.credentials(of: context.channel)
        } catch {
            // Without credentials there is no owner to record and no uid to check: refuse.
            return refuse("fractal-agent cannot tell who is calling (SO_PEERCRED: \(error)); the API answers only callers the kernel names", context)
        }
        if let message = Self.refusal(of: peer, allowedUIDs: allowedUIDs) {
            return refuse(message, context)
        }
        context.peer = peer
        return try await next(request, context)
    }

    /// Why `peer` may not call, or nil when it may: root always may; with an allow-list, the
    /// users it names may; without one, whoever could connect.
    static func refusal(of peer: LeaseOwner, allowedUIDs: Set<UInt32>?) -> String? {
        guard let allowedUIDs, peer.uid != 0, !allowedUIDs.contains(peer.uid) else { return nil }
        let listed = allowedUIDs.sorted().map(String.init).joined(separator: ", ")
        return "uid \(peer.uid) may not use fractal-agent's API: only root and --api-allow-uid \(listed) may"
    }

    private func refuse(_ message: String, _ context: Context) -> Response {
        metrics.error("peer check", status: Int(HTTPResponse.Status.forbidden.code))
        context.logger.notice("request refused: \(message)")
        return json(ErrorResponse(message: message), status: .forbidden)
    }

    /// SO_PEERCRED of the connection: the uid, gid and pid of the process that connected, as the
    /// kernel recorded them at connect(2), whatever that process did afterwards.
    static func credentials(of channel: any Channel) async throws -> LeaseOwner {
        guard let provider = channel as? any SocketOptionProvider else { throw PeerCredentialsUnavailable() }
        // `struct ucred` is three 32-bit fields (pid, uid, gid) on every Linux ABI; Glibc's
        // module hides it behind _GNU_SOURCE, and a homogeneous tuple has C's array layout.
        let raw: (UInt32, UInt32, UInt32) = try await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
        ).get()
        return LeaseOwner(uid: raw.1, gid: raw.2, pid: Int32(bitPattern: raw.0))
    }
}

/// The connection is not a socket whose peer the kernel knows (never so for the API's unix socket).
struct PeerCredentialsUnavailable: Error, CustomStringConvertible {
    var description: String { "not a unix socket connection" }
}
