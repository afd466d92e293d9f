#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// Connects to a unix socket and closes it again, to say why a request could not be sent:
/// the HTTP client's errors do not reliably carry the errno of a failed `connect(2)`.
public enum UnixSocketProbe {
    /// nil when the socket accepts a connection, else the reason (`No such file or directory`).
    public static func failure(_ path: String) -> String? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else { return "the socket path is \(bytes.count) bytes; at most \(capacity - 1) fit" }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let made = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard made >= 0 else { return "socket(): \(Errno(rawValue: errno))" }
        let descriptor = OwnedDescriptor(adopting: made)
        // Not retried on EINTR: a connect(2) interrupted goes on in the background (EALREADY).
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor.raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result != 0 else { return nil }
        let code = Errno(rawValue: errno)
        return "\(code)"
    }
}
