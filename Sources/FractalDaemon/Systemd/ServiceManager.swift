import CLibSystemd
import DeviceManager
import Foundation

/// The daemon's side of systemd's service protocol (`sd_notify`): readiness and status, the
/// watchdog, and the file-descriptor store through which devices outlive a restart. Inert when
/// the process was not started by systemd as a notify service (no `NOTIFY_SOCKET`).
final class ServiceManager: Sendable {
    /// Whether a service manager listens (systemd started us with `Type=notify`).
    let isPresent: Bool
    /// How often systemd expects `WATCHDOG=1` (`WatchdogSec=`); nil when it expects none.
    let watchdogTimeout: Duration?

    init() {
        isPresent = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil
        var microseconds: UInt64 = 0
        watchdogTimeout = sd_watchdog_enabled(0, &microseconds) > 0 ? .microseconds(Int64(microseconds)) : nil
    }

    /// Sends `KEY=value` lines (`READY=1`, `STATUS=...`, `STOPPING=1`, `WATCHDOG=1`).
    func notify(_ assignments: String) {
        guard isPresent else { return }
        _ = sd_notify(0, assignments)
    }

    /// Hands systemd a duplicate of `fd` to keep under `name` until removed, and to pass back to
    /// the next process of this service (`FDSTORE=1`). Returns the negative errno on failure.
    @discardableResult
    func store(_ fd: Int32, as name: StoredDescriptorName) -> Int32 {
        guard isPresent else { return 0 }
        var descriptor = fd
        return sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=\(name.rawValue)", &descriptor, 1)
    }

    /// Closes systemd's copies stored under `name` (`FDSTOREREMOVE=1`).
    func removeStored(_ name: StoredDescriptorName) {
        notify("FDSTOREREMOVE=1\nFDNAME=\(name.rawValue)")
    }

    /// The descriptors systemd passed to this process (`LISTEN_FDS`, `LISTEN_FDNAMES`): what the
    /// previous process stored. Each is made close-on-exec; the caller owns them. The variables
    /// are unset, so nothing this process starts takes them for its own.
    static func takePassedDescriptors() -> [(name: String, fd: Int32)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        return (0..<Int(count)).map { index in
            let fd = SD_LISTEN_FDS_START + Int32(index)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let name = names?[index].map { String(cString: $0) } ?? ""
            return (name, fd)
        }
    }
}

/// The name a descriptor is stored under in systemd's file-descriptor store: which lease it
/// belongs to and what it is, so the next process matches it with its recorded lease. systemd
/// allows up to 255 characters and no ':' (LISTEN_FDNAMES is ':'-separated); FractalIDs and roles
/// are `[a-z0-9_-]`.
enum StoredDescriptorName: Hashable, Sendable, CustomStringConvertible {
    /// A device's uinput descriptor: the device lives as long as it does.
    case device(FractalID, DeviceHandle)
    /// A lease's session-socket listener: clients that connect during a restart wait in its backlog.
    case sessionListener(FractalID)

    var rawValue: String {
        switch self {
        case .device(let id, let handle): "fractal-device.\(id.rawValue).\(handle)"
        case .sessionListener(let id): "fractal-session.\(id.rawValue)"
        }
    }

    var lease: FractalID {
        switch self {
        case .device(let id, _), .sessionListener(let id): id
        }
    }

    var description: String { rawValue }

    /// Parses a stored name; nil for one this version did not write.
    init?(rawValue: String) {
        let parts = rawValue.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("fractal-device", 3):
            guard let id = try? FractalID(parts[1]), let handle = DeviceHandle(parts[2]) else { return nil }
            self = .device(id, handle)
        case ("fractal-session", 2):
            guard let id = try? FractalID(parts[1]) else { return nil }
            self = .sessionListener(id)
        default:
            return nil
        }
    }
}

/// What the previous process left in systemd's store, sorted for adoption.
struct PassedDescriptors {
    /// Device descriptors by lease and device.
    var devices: [FractalID: [DeviceHandle: Int32]] = [:]
    /// Session listeners by lease.
    var listeners: [FractalID: Int32] = [:]
    /// Every descriptor with its parsed name; nil for names this version does not know.
    var all: [(name: String, parsed: StoredDescriptorName?, fd: Int32)] = []

    init(_ passed: [(name: String, fd: Int32)]) {
        for (name, fd) in passed {
            let parsed = StoredDescriptorName(rawValue: name)
            all.append((name, parsed, fd))
            switch parsed {
            // A second descriptor under one name (a listener stored twice) is left unclaimed: closed.
            case .device(let id, let handle)? where devices[id]?[handle] == nil: devices[id, default: [:]][handle] = fd
            case .sessionListener(let id)? where listeners[id] == nil: listeners[id] = fd
            default: break
            }
        }
    }
}
