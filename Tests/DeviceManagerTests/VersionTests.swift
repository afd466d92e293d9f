import Testing
import Foundation
import FractalVersion

@Suite struct VersionTests {
    @Test func versionMatchesTheVersionFile() throws {
        let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appending(path: "VERSION"), encoding: .utf8)
        #expect(fractalVersion == file.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(fractalVersionLine.hasPrefix(fractalVersion + " ("))
    }
}
