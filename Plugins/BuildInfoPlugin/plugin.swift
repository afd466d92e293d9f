import Foundation
import PackagePlugin

/// Puts what the repository writes once into the binaries at build time, with no manual step:
/// the version from `VERSION` (with the git short hash) into FractalVersion, and the udev rules
/// from `udev/` into DeviceManager, so `devicectl udev-rules install` needs no file beside it.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let packageDir = context.package.directoryURL
        let outputDir = context.pluginWorkDirectoryURL.appending(path: "Generated")
        let arguments: [String]
        switch target.name {
        case "FractalVersion":
            arguments = [
                packageDir.appending(path: "scripts/gen-version.sh").path(), packageDir.path(),
                outputDir.appending(path: "Version.swift").path(),
            ]
        case "DeviceManager":
            arguments = [
                packageDir.appending(path: "scripts/embed-text.sh").path(), "fractalUdevRulesTemplate",
                packageDir.appending(path: "udev/72-fractal-agent.rules").path(),
                outputDir.appending(path: "EmbeddedUdevRules.swift").path(),
            ]
        default:
            Diagnostics.error("BuildInfoPlugin has nothing to generate for target \(target.name)")
            return []
        }
        // A prebuild command runs before every build, so a new commit or an edited file always
        // reaches the binaries; the scripts rewrite their output only when its content changes.
        return [
            .prebuildCommand(
                displayName: "Generate build info for \(target.name)",
                executable: URL(filePath: "/bin/sh"),
                arguments: arguments,
                outputFilesDirectory: outputDir
            )
        ]
    }
}
