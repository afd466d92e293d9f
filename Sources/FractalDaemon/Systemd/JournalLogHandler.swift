import Foundation
import Logging

/// Log lines as journald reads them when the daemon's standard error is its stream
/// (`JOURNAL_STREAM`, set by systemd): a syslog priority prefix (`<3>`) so `journalctl -p err`
/// and colouring work, and no timestamp of our own, since the journal stamps every line.
/// Elsewhere, swift-log's own stream handler (a timestamp and a level word).
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init() {}

    /// Installs the handler that suits where standard error goes, once per process.
    public static func bootstrap(level: Logger.Level) {
        if isJournalStream {
            LoggingSystem.bootstrap { _ in
                var handler = JournalLogHandler()
                handler.logLevel = level
                return handler
            }
        } else {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }

    /// Whether standard error is the stream systemd connected to journald (JOURNAL_STREAM names
    /// its device and inode, so a redirected stderr of a child is not mistaken for it).
    static var isJournalStream: Bool {
        guard let stream = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        var info = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let details = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        // One line per entry: the journal splits on newlines, and a continuation has no priority.
        let text = "\(event.message)\(details)".replacingOccurrences(of: "\n", with: " ⏎ ")
        // The journal names the unit and PID; the module says which part of the daemon spoke.
        FileHandle.standardError.write(Data("<\(Self.priority(event.level))>[\(event.source)] \(text)\n".utf8))
    }

    /// syslog(3) priorities, as sd-daemon.h's SD_ERR and the like.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
