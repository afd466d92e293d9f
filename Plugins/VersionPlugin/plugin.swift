import PackagePlugin
import Foundation

/// Generates `Version.swift` from the top-level `VERSION` file and the git short hash on every build,
/// so the version is written in exactly one place and never needs a manual generation step.
@main
struct VersionPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let packageDir = context.package.directoryURL
        let outputDir = context.pluginWorkDirectoryURL.appending(path: "Generated")
        let script = packageDir.appending(path: "scripts/gen-version.sh")
        // A prebuild command runs before every build, so a new commit or an edited VERSION
        // always reaches the binaries; the script rewrites the file only when its content changes.
        return [
            .prebuildCommand(
                displayName: "Generate Version.swift from VERSION",
                executable: URL(filePath: "/bin/sh"),
                arguments: [script.path(), packageDir.path(), outputDir.appending(path: "Version.swift").path()],
                outputFilesDirectory: outputDir
            )
        ]
    }
}
