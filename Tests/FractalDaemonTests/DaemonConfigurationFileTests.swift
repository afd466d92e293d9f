import Foundation
import FractalDaemon
import Testing

@testable import fractal_agent

@Suite struct DaemonConfigurationFileTests {
    let options: [DaemonConfigurationFile.Option] = [
        .init(name: "max-leases", kind: .value),
        .init(name: "udev-timeout", kind: .value),
        .init(name: "allowed-root", kind: .repeating),
        .init(name: "release-on-exit", kind: .flag(negation: nil)),
        .init(name: "color", kind: .flag(negation: "no-color")),
    ]

    func settings(_ text: String) throws(DaemonConfigurationFile.Error) -> [DaemonConfigurationFile.Setting] {
        try DaemonConfigurationFile.settings(text: text, path: "/etc/fractal-agent/agent.toml", options: options)
    }

    func error(_ text: String) -> DaemonConfigurationFile.Error? {
        do {
            _ = try settings(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func keysBecomeArgumentsInTheFilesOrder() throws {
        let text = """
            # fractal-agent
            release-on-exit = true
            max-leases = 200   # a comment after a value
            allowed-root = ["/srv/sessions", "/srv/more"]
            udev-timeout = 2.5
            color = false
            """
        let settings = try settings(text)
        #expect(settings.map(\.key) == ["release-on-exit", "max-leases", "allowed-root", "udev-timeout", "color"])
        #expect(settings.map(\.line) == [2, 3, 4, 5, 6])
        #expect(settings.flatMap(\.arguments) == [
            "--release-on-exit", "--max-leases", "200", "--allowed-root", "/srv/sessions", "--allowed-root", "/srv/more",
            "--udev-timeout", "2.5", "--no-color",
        ])
    }

    @Test func aFalseFlagWithoutNegationLeavesTheDefault() throws {
        #expect(try settings("release-on-exit = false").flatMap(\.arguments) == [])
    }

    @Test func commentsAndEmptyFilesSetNothing() throws {
        #expect(try settings("").isEmpty)
        #expect(try settings("# max-leases = 128\n\n   # allowed-root = []\n").isEmpty)
    }

    @Test func anUnknownKeyIsNamedWithItsLine() {
        let error = error("max-leases = 2\nmax-lease = 3\n")
        #expect(error?.key == "max-lease")
        #expect(error?.line == 2)
        #expect(error?.description.hasPrefix("/etc/fractal-agent/agent.toml line 2: max-lease: no such option") == true)
    }

    @Test func aTableIsAnUnknownKey() {
        let error = error("[daemon]\nmax-leases = 2\n")
        #expect(error?.key == "daemon")
        #expect(error?.line == 1)
    }

    @Test(arguments: [
        ("max-leases = true", "max-leases", "is a TOML bool, expected a string or a number"),
        ("max-leases = [1]", "max-leases", "is a TOML array, expected a string or a number"),
        ("release-on-exit = \"yes\"", "release-on-exit", "is a TOML string, expected true or false"),
        ("allowed-root = \"/srv\"", "allowed-root", "is a TOML string, expected an array such as [\"a\", \"b\"]"),
        ("allowed-root = [true]", "allowed-root", "holds a TOML bool, expected strings or numbers"),
    ])
    func aWrongTypeIsNamed(text: String, key: String, message: String) {
        let error = error(text)
        #expect(error == DaemonConfigurationFile.Error(path: "/etc/fractal-agent/agent.toml", line: 1, key: key, message: message))
    }

    @Test func aFileThatIsNotTOMLNamesItsLine() {
        let error = error("max-leases = 2\nmax-leases = 3\n")
        #expect(error?.line == 2)
        #expect(error?.message.hasPrefix("not valid TOML") == true)
        #expect(self.error("max-leases = \n")?.line == 1)
    }

    @Test func aMissingDefaultFileIsFineAMissingExplicitOneIsNot() throws {
        let path = "/nonexistent-\(UUID().uuidString)/agent.toml"
        #expect(try DaemonConfigurationFile.load(path: path, required: false, options: options).isEmpty)
        #expect(throws: DaemonConfigurationFile.Error.self) {
            try DaemonConfigurationFile.load(path: path, required: true, options: options)
        }
        #expect(throws: DaemonConfigurationFile.Error.self) {
            try DaemonConfigurationFile.load(path: "/", required: false, options: options)  // a directory
        }
    }
}

/// The file's keys come from fractal-agent's own options, and the command line wins over the file.
@Suite struct FractalAgentConfigurationTests {
    func withFile<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory.appending(path: "agent-\(UUID().uuidString).toml").path
        try Data(text.utf8).write(to: URL(filePath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    @Test func theKeysAreTheCommandsLongOptions() {
        let options = FractalAgentCommand.configurationFileOptions
        let byName = Dictionary(uniqueKeysWithValues: options.map { ($0.name, $0.kind) })
        #expect(byName["max-leases"] == .value)
        #expect(byName["allowed-root"] == .repeating)
        #expect(byName["api-allow-uid"] == .repeating)
        #expect(byName["release-on-exit"] == .flag(negation: nil))
        #expect(byName["log-level"] == .value)
        for commandLineOnly in ["config", "validate", "help", "version", "generate-completion-script", "experimental-dump-help"] {
            #expect(byName[commandLineOnly] == nil)
        }
    }

    @Test func theCommandLineWinsAndRepeatableOptionsAddUp() throws {
        let command = try withFile("max-leases = 200\nallowed-root = [\"/srv/a\"]\nrelease-on-exit = true\n") { path in
            try FractalAgentCommand.parse(withConfigurationFile: ["--config", path, "--max-leases", "7", "--allowed-root", "/srv/b"])
        }
        #expect(command.maxLeases == 7)
        #expect(command.allowedRoots == ["/srv/a", "/srv/b"])
        #expect(command.releaseOnExit)
    }

    @Test func theFileAloneSetsOptions() throws {
        let command = try withFile("max-leases = 200\nsocket-group = \"fractal\"\n") { path in
            try FractalAgentCommand.parse(withConfigurationFile: ["--config=\(path)"])
        }
        #expect(command.maxLeases == 200)
        #expect(command.socketGroup == "fractal")
    }

    @Test func aValueTheOptionRefusesNamesTheFileLineAndKey() throws {
        try withFile("socket-group = \"fractal\"\nmax-leases = \"many\"\n") { path in
            let error = #expect(throws: DaemonConfigurationFile.Error.self) {
                try FractalAgentCommand.parse(withConfigurationFile: ["--config", path])
            }
            #expect(error?.line == 2)
            #expect(error?.key == "max-leases")
        }
        try withFile("\n\nmax-leases = 5000\n") { path in
            do {
                _ = try FractalAgentCommand.parse(withConfigurationFile: ["--config", path])
                Issue.record("max-leases = 5000 was accepted")
            } catch let error as DaemonConfigurationFile.Error {
                #expect(error.path == path)
                #expect(error.line == 3)
                #expect(error.key == "max-leases")
            }
        }
    }

    @Test func aMissingConfigFileIsAnError() {
        #expect(throws: DaemonConfigurationFile.Error.self) {
            try FractalAgentCommand.parse(withConfigurationFile: ["--config", "/nonexistent/agent.toml"])
        }
    }

    @Test func theCommandLinesOwnMistakeIsNotBlamedOnTheFile() throws {
        try withFile("max-leases = 200\n") { path in
            do {
                _ = try FractalAgentCommand.parse(withConfigurationFile: ["--config", path, "--max-leases", "0"])
                Issue.record("--max-leases 0 was accepted")
            } catch {
                #expect(!(error is DaemonConfigurationFile.Error))
            }
        }
    }

    @Test func helpNeverReadsTheFile() {
        do {
            _ = try FractalAgentCommand.parse(withConfigurationFile: ["--config", "/nonexistent/agent.toml", "--help"])
        } catch {
            #expect(FractalAgentCommand.exitCode(for: error) == .success)
        }
    }
}
