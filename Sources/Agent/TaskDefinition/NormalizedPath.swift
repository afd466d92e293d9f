#if canImport(Glibc)
import Glibc
#endif

/// An absolute path reduced to its components, so every check sees one spelling: empty
/// components (`//`, a trailing `/`) and `.` are dropped and `..` is taken lexically (never
/// above `/`). `/dev//input`, `//dev/input`, `/dev/./input/` and `/dev/../dev/input` are all
/// `/dev/input`.
struct NormalizedPath: Hashable, Sendable, CustomStringConvertible {
    /// The components, outermost first; empty for `/`.
    let components: [String]

    /// nil when `text` is not absolute or holds a NUL byte (C would cut the path there).
    init?(_ text: String) {
        guard text.hasPrefix("/"), !text.utf8.contains(0) else { return nil }
        var components: [String] = []
        for part in text.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = components.popLast()
            default: components.append(String(part))
            }
        }
        self.components = components
    }

    private init(components: [String]) { self.components = components }

    var description: String { "/" + components.joined(separator: "/") }

    /// Whether this path is `other` or lies below it.
    func isWithin(_ other: NormalizedPath) -> Bool { components.starts(with: other.components) }

    /// Whether this path lies below `other`, not at it.
    func isStrictlyBelow(_ other: NormalizedPath) -> Bool {
        components.count > other.components.count && isWithin(other)
    }

    /// Whether either path holds the other: binding one shows the other.
    func overlaps(_ other: NormalizedPath) -> Bool { isWithin(other) || other.isWithin(self) }

    /// `text` as this host's kernel would resolve it: symbolic links followed (`realpath`) in
    /// the longest leading part that exists, the rest appended as written. Docker follows links
    /// in a bind source or a device path itself, so a check on the written path alone could be
    /// walked around by a link (`/srv/shared/x -> /`). nil when `text` is not absolute.
    static func resolvedOnHost(_ text: String) -> NormalizedPath? {
        guard let written = NormalizedPath(text) else { return nil }
        var head = text
        var tail: [Substring] = []
        while true {
            if let resolved = realpath(head, nil) {
                let path = String(cString: resolved)
                free(resolved)
                return NormalizedPath(([path] + tail.reversed().map(String.init)).joined(separator: "/"))
            }
            // Not there (or not reachable): resolve what is, keep the rest as written.
            guard let slash = head.lastIndex(of: "/"), head != "/" else { return written }
            tail.append(head[head.index(after: slash)...])
            head = slash == head.startIndex ? "/" : String(head[..<slash])
        }
    }
}
