/// An absolute path as its components, checked without touching the filesystem: no `.` or
/// `..` (which could climb out of a root once resolved), no NUL byte (which C would cut at).
struct LexicalPath: Equatable, Sendable {
    /// The components, outermost first; empty for `/`.
    let components: [String]

    /// Checks `text`; errors name `naming` (the template the person wrote, when there is one).
    init(_ text: String, naming: String) throws(DirectoryError) {
        guard !text.utf8.contains(0) else { throw .invalidRequest(naming, reason: "the path holds a NUL byte") }
        guard text.hasPrefix("/") else { throw .notAbsolute(naming) }
        let parts = text.split(separator: "/").map(String.init)
        guard !parts.contains(where: { $0 == "." || $0 == ".." }) else { throw .dotDotComponent(naming) }
        components = parts
    }

    init(components: [String]) { self.components = components }

    /// The normalized text: one `/` between components, none at the end.
    var string: String { "/" + components.joined(separator: "/") }

    /// Whether this path lies below `root`, not at it.
    func isStrictlyBelow(_ root: LexicalPath) -> Bool {
        components.count > root.components.count && components.starts(with: root.components)
    }

    /// The path of the first `count` components.
    func prefix(_ count: Int) -> LexicalPath { LexicalPath(components: Array(components.prefix(count))) }
}
