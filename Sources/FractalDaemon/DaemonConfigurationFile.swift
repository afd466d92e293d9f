import Foundation
import TOMLKit

/// `/etc/fractal-agent/agent.toml`: the daemon's options written down, one top-level key per long
/// option (`max-leases = 200`, `allowed-root = ["/srv/sessions"]`, `release-on-exit = true`).
///
/// The file knows no option of its own: the command says which keys exist (`Option`), and the file
/// only turns them into arguments, which go before the command line's so that a flag given there wins
/// (for a repeatable option the file's values and the command line's add up).
public enum DaemonConfigurationFile {
    /// Where the package puts the file; a missing file here is fine, unlike one named by `--config`.
    public static let defaultPath = "/etc/fractal-agent/agent.toml"

    /// One long option the file may set, as the command declares it.
    public struct Option: Sendable, Equatable {
        /// How the option takes its value on the command line.
        public enum Kind: Sendable, Equatable {
            /// `--name` alone (a TOML boolean); `negation` is the `--no-name` spelling, when the flag has one.
            case flag(negation: String?)
            /// `--name VALUE` once (a TOML string or number).
            case value
            /// `--name VALUE` any number of times (a TOML array of strings or numbers).
            case repeating
        }

        public var name: String
        public var kind: Kind

        public init(name: String, kind: Kind) {
            self.name = name
            self.kind = kind
        }
    }

    /// One key of the file and the arguments it stands for.
    public struct Setting: Sendable, Equatable {
        public var key: String
        /// The key's line in the file (1-based), when it is written as `key = ...` on a line of its own.
        public var line: Int?
        public var arguments: [String]
    }

    /// Why the file cannot be used: it names the file, and the line and key when they are known.
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var path: String
        public var line: Int?
        public var key: String?
        public var message: String

        public init(path: String, line: Int? = nil, key: String? = nil, message: String) {
            self.path = path
            self.line = line
            self.key = key
            self.message = message
        }

        public var description: String {
            var text = path
            if let line { text += " line \(line)" }
            if let key { text += ": \(key)" }
            return text + ": " + message
        }
    }

    /// Reads the file at `path`. A missing file yields no settings when `required` is false (the
    /// default path); any other failure to read it is an error.
    public static func load(path: String, required: Bool, options: [Option]) throws(Error) -> [Setting] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT && !required { return [] }
            throw Error(path: path, message: "cannot open the configuration file: \(String(cString: strerror(code))) (errno \(code))")
        }
        defer { close(descriptor) }
        let data: Data
        do {
            data = try FileHandle(fileDescriptor: descriptor, closeOnDealloc: false).readToEnd() ?? Data()
        } catch {
            throw Error(path: path, message: "cannot read the configuration file: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Error(path: path, message: "not UTF-8 text")
        }
        return try settings(text: text, path: path, options: options)
    }

    /// The settings `text` (TOML) makes, in the order written; `path` only names the file in errors.
    public static func settings(text: String, path: String, options: [Option]) throws(Error) -> [Setting] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Error(path: path, line: error.source.begin.line, message: "not valid TOML: \(error.description)")
        } catch {
            throw Error(path: path, message: "not valid TOML: \(error)")
        }
        let byName = Dictionary(options.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let lines = keyLines(text)
        var settings: [Setting] = []
        for key in table.keys {
            let line = lines[key]
            guard let option = byName[key] else {
                throw Error(path: path, line: line, key: key, message: "no such option (the keys are fractal-agent's long options, see fractal-agent --help)")
            }
            guard let value = table[key] else { continue }
            func wrongType(_ expected: String) -> Error {
                Error(path: path, line: line, key: key, message: "is a TOML \(value.type), expected \(expected)")
            }
            var arguments: [String] = []
            switch option.kind {
            case .flag(let negation):
                guard let on = value.bool else { throw wrongType("true or false") }
                if on {
                    arguments = ["--" + key]
                } else if let negation {
                    arguments = ["--" + negation]
                }
            case .value:
                guard let text = scalar(value) else { throw wrongType("a string or a number") }
                arguments = ["--" + key, text]
            case .repeating:
                guard let array = value.array else { throw wrongType("an array such as [\"a\", \"b\"]") }
                for element in array {
                    guard let text = scalar(element) else {
                        throw Error(path: path, line: line, key: key, message: "holds a TOML \(element.type), expected strings or numbers")
                    }
                    arguments += ["--" + key, text]
                }
            }
            settings.append(Setting(key: key, line: line, arguments: arguments))
        }
        // TOMLTable's keys come in its own order; keep the file's so errors and arguments read top-down.
        return settings.sorted { ($0.line ?? .max, $0.key) < ($1.line ?? .max, $1.key) }
    }

    /// A string or a number as the command line would spell it.
    private static func scalar(_ value: any TOMLValueConvertible) -> String? {
        if let text = value.string { return text }
        if let number = value.int { return String(number) }
        if let number = value.double { return String(number) }
        return nil
    }

    /// The first line of each `key = ...` or `[key]` (TOMLKit does not say where a value sits):
    /// a bare or quoted key at the start of a line.
    private static func keyLines(_ text: String) -> [String: Int] {
        var lines: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            let equals: Substring.Index
            if line.hasPrefix("["), let end = line.firstIndex(of: "]") {
                equals = end  // a table header: its name is a (wrong) top-level key too
            } else if let index = line.firstIndex(of: "=") {
                equals = index
            } else {
                continue
            }
            var key = line[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: " \t["))
            if key.count >= 2, let first = key.first, first == "\"" || first == "'", key.last == first {
                key = String(key.dropFirst().dropLast())
            }
            if lines[key] == nil { lines[key] = index + 1 }
        }
        return lines
    }
}
