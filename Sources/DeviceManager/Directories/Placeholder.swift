/// The words in a directory template that stand for the session's `FractalID`.
///
/// Templates come from task definitions and configuration written for the original agent,
/// which used either name; both mean the same thing here.
public enum Placeholder {
    /// The placeholder this agent documents.
    public static let fractalID = "%%FRACTAL_ID_PLACEHOLDER%%"
    /// The older name, still accepted.
    public static let containerSpecificDirectory = "%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%"
    /// Every accepted placeholder.
    public static let all = [fractalID, containerSpecificDirectory]

    /// `template` with every placeholder replaced by `id`.
    ///
    /// A `FractalID` is a safe single path component (no `/`, no `.`/`..`), so substitution cannot
    /// add components or climb out of a directory.
    public static func substitute(_ template: String, id: FractalID) -> String {
        var result = template
        for placeholder in all {
            result = result.replacing(placeholder, with: id.rawValue)
        }
        return result
    }

    /// Whether `template` holds at least one placeholder, under either name.
    public static func containsPlaceholder(_ template: String) -> Bool {
        all.contains { template.contains($0) }
    }
}
