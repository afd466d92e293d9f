/// The operator's caps on session directories: what a tmpfs gets when a request names no size
/// or inode count, and the most a request may ask for.
///
/// A session writes into its directory; without a cap it could fill the filesystem that holds
/// it, and with it the host's other sessions and the daemon's state. tmpfs counts its pages
/// against memory (and swap), so the default times the lease limit is what sessions may take.
public struct DirectoryLimits: Sendable, Equatable {
    /// A tmpfs's size when the request names none (`size=`).
    public var defaultSizeBytes: UInt64
    /// A tmpfs's files and directories when the request names no count (`nr_inodes=`).
    public var defaultInodes: UInt64
    /// The most a request may ask for.
    public var maximumSizeBytes: UInt64
    public var maximumInodes: UInt64

    public static let standardSizeBytes: UInt64 = 1 << 30
    public static let standardInodes: UInt64 = 65536

    /// Maximums default to the defaults: a request may then ask for less, not more.
    public init(
        defaultSizeBytes: UInt64 = DirectoryLimits.standardSizeBytes, defaultInodes: UInt64 = DirectoryLimits.standardInodes,
        maximumSizeBytes: UInt64? = nil, maximumInodes: UInt64? = nil
    ) {
        self.defaultSizeBytes = defaultSizeBytes
        self.defaultInodes = defaultInodes
        self.maximumSizeBytes = maximumSizeBytes ?? defaultSizeBytes
        self.maximumInodes = maximumInodes ?? defaultInodes
    }

    /// Bytes from a size such as `1G`, `512M` or `65536` (the spec syntax's `tmpfs=SIZE`); nil if it is not one.
    public static func bytes(_ text: String) -> UInt64? {
        try? DirectoryRequest.parseSize(text, spec: text)
    }

    /// Why these limits cannot be used, or nil: every cap above zero, the defaults within the maximums.
    public var problem: String? {
        if defaultSizeBytes == 0 || defaultInodes == 0 { return "a directory's default size and inode count must be above zero" }
        if defaultSizeBytes > maximumSizeBytes { return "the default directory size is above the maximum" }
        if defaultInodes > maximumInodes { return "the default directory inode count is above the maximum" }
        return nil
    }

    /// The size and inode count a tmpfs for `request` gets; a request above a maximum is refused.
    public func tmpfsCaps(for request: DirectoryRequest) throws(DirectoryError) -> (sizeBytes: UInt64, inodes: UInt64) {
        guard case .tmpfs(let size, let count) = request.mount else {
            throw .invalidRequest(request.template, reason: "it asks for no tmpfs")
        }
        let sizeBytes = size ?? defaultSizeBytes
        let inodes = count ?? defaultInodes
        guard sizeBytes <= maximumSizeBytes else {
            throw .invalidRequest(
                request.template,
                reason: "tmpfs size \(DirectoryRequest.formatSize(sizeBytes)) is above the operator's maximum of \(DirectoryRequest.formatSize(maximumSizeBytes)) (fractal-agent --directory-max-size)")
        }
        guard inodes <= maximumInodes else {
            throw .invalidRequest(
                request.template,
                reason: "tmpfs inode count \(inodes) is above the operator's maximum of \(maximumInodes) (fractal-agent --directory-max-inodes)")
        }
        return (sizeBytes, inodes)
    }
}
