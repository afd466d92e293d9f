import ArgumentParser
import Foundation
import FractalDaemon

/// The configuration file's side of the command: which keys it takes (the command's own long
/// options, read from ArgumentParser's description of the command, so no list is kept twice) and
/// how its arguments join the command line's.
extension FractalAgentCommand {
    /// The long name of `--config`, which the file itself may not set.
    static let configOptionName = "config"

    /// Options that are ArgumentParser's own or only make sense on a command line.
    private static let commandLineOnly: Set<String> = [
        configOptionName, "validate", "help", "version", "generate-completion-script", "experimental-dump-help",
    ]

    /// Every long option of the command the file may set.
    static var configurationFileOptions: [DaemonConfigurationFile.Option] {
        struct Name: Decodable { var kind: String; var name: String }
        struct Argument: Decodable { var kind: String; var isRepeating: Bool; var names: [Name]?; var preferredName: Name? }
        struct Command: Decodable { var arguments: [Argument]? }
        struct Dump: Decodable { var command: Command }
        // _dumpHelp() is what --experimental-dump-help prints (ArgumentParserToolInfo's JSON).
        guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(_dumpHelp().utf8)) else {
            preconditionFailure("swift-argument-parser's description of fractal-agent does not decode")
        }
        return (dump.command.arguments ?? []).compactMap { argument in
            let longNames = (argument.names ?? []).filter { $0.kind == "long" }.map(\.name)
            guard let name = argument.preferredName.flatMap({ $0.kind == "long" ? $0.name : nil }) ?? longNames.first,
                  !commandLineOnly.contains(name)
            else { return nil }
            switch argument.kind {
            case "flag":
                return .init(name: name, kind: .flag(negation: longNames.first { $0 == "no-" + name }))
            case "option":
                return .init(name: name, kind: argument.isRepeating ? .repeating : .value)
            default:
                return nil
            }
        }
    }

    /// Parses the command from its configuration file and `commandLine`. The file's arguments go first,
    /// so a single-value option on the command line overrides the file's; repeatable ones add up.
    /// Help, version and completion requests never read the file.
    static func parse(withConfigurationFile commandLine: [String]) throws -> FractalAgentCommand {
        do {
            _ = try parseOnly(commandLine)
        } catch where exitCode(for: error) == .success {
            throw error  // --help, --version, --generate-completion-script, --experimental-dump-help
        } catch {}
        let explicitPath = (try? ConfigFileLocation.parse(commandLine))?.config
        let path = explicitPath ?? DaemonConfigurationFile.defaultPath
        let settings = try DaemonConfigurationFile.load(path: path, required: explicitPath != nil, options: configurationFileOptions)
        let fileArguments = settings.flatMap(\.arguments)
        do {
            return try parseOnly(fileArguments + commandLine)
        } catch {
            // The command line's mistake or the file's? The file alone says.
            do {
                _ = try parseOnly(fileArguments)
            } catch let fileError where exitCode(for: fileError) != .success {
                let text = message(for: fileError)
                let culprit = settings.first { setting in setting.arguments.contains { $0.hasPrefix("--") && text.contains($0) } }
                throw DaemonConfigurationFile.Error(path: path, line: culprit?.line, key: culprit?.key, message: text)
            }
            throw error
        }
    }

    private static func parseOnly(_ arguments: [String]) throws -> FractalAgentCommand {
        let command = try parseAsRoot(arguments)
        // ArgumentParser answers `--help` with its own help command instead of throwing.
        guard let command = command as? FractalAgentCommand else { throw CleanExit.helpRequest(self) }
        return command
    }
}

/// Only `--config` of a command line, the rest set aside, to find the file before the whole command is parsed.
private struct ConfigFileLocation: ParsableArguments {
    @Option(name: .customLong(FractalAgentCommand.configOptionName)) var config: String?
    @Argument(parsing: .allUnrecognized) var rest: [String] = []
}
