#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file descriptor its holder opened: closed exactly once, when the value goes away, unless
/// `take()` hands it on. Not copyable, so no second holder can close it under the first.
public struct OwnedDescriptor: ~Copyable, Sendable {
    /// The descriptor, for calls that take one; it stays this value's to close.
    public let raw: Int32

    /// Takes over `raw`, which nothing else may close.
    public init(adopting raw: Int32) { self.raw = raw }

    deinit { _ = close(raw) }

    /// Hands the descriptor over to the caller, who closes it.
    public consuming func take() -> Int32 {
        let raw = raw
        discard self
        return raw
    }

    /// `/proc/self/fd/N`: names exactly the file this descriptor holds, for calls that take only
    /// paths (mount, umount2), so no path can be swapped under them.
    public var procPath: String { "/proc/self/fd/\(raw)" }
}
