import DeviceManager
import FractalAPI
import Foundation

/// How devicectl shows leases to a person.
enum LeaseText {
    static func describe(_ lease: LeaseResponse) -> String {
        var lines = ["lease \(lease.id)  \(lease.state.rawValue)" + (lease.udev.map { "  udev: \($0.rawValue)" } ?? "")]
        if let owner = lease.owner { lines.append("  owner      \(owner)") }
        if let note = lease.note { lines.append("  note       \(note)") }
        for device in lease.devices {
            let nodes = device.nodes.map { "\($0.path) (\($0.major):\($0.minor))" }.joined(separator: ", ")
            lines.append("  \(device.role.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))\(device.name)"
                + (device.plugged ? "" : "  (unplugged: a hot-plug slot; devicectl plug \(lease.id) \(device.role.rawValue))"))
            lines.append("             \(nodes)" + (device.stableLink.map { "\n             link \($0)" } ?? ""))
        }
        for directory in lease.directories {
            lines.append("  directory  \(directory.path)")
        }
        if lease.state == .active {
            lines.append("docker run flags:")
            lines.append("  " + shellJoin(lease.dockerRunFlags))
            if let cdi = lease.cdiDevice { lines.append("CDI device (podman, CRI-O, containerd, Docker 25+): --device \(cdi)") }
        } else if lease.state == .devicesLost {
            lines.append("its devices ended with an earlier fractal-agent process; release it with: devicectl release \(lease.id)")
        } else if lease.state == .releaseFailed {
            lines.append("its release left this behind: \(lease.releaseProblem ?? "(no reason recorded)")")
            lines.append("fix that, then release it again: devicectl release \(lease.id)")
        }
        return lines.joined(separator: "\n")
    }

    static func table(_ leases: [LeaseResponse], now: Date) -> String {
        guard !leases.isEmpty else { return "no leases\n" }
        let header = ["FRACTAL ID", "STATE", "DEVICES", "NODES", "DIRECTORIES", "AGE", "OWNER"]
        let rows = leases.map { lease in
            [
                lease.id.rawValue,
                lease.state.rawValue,
                lease.devices.map(\.listed).joined(separator: ","),
                lease.devices.flatMap(\.nodes).map { ($0.path as NSString).lastPathComponent }.joined(separator: ","),
                String(lease.directories.count),
                age(now.timeIntervalSince(lease.createdAt)),
                ownerColumn(lease),
            ]
        }
        return textTable(header: header, rows: rows)
    }

    /// `uid=0 pid=4242 (devicectl)`: who asked, as the kernel said, then the caller's own note.
    static func ownerColumn(_ lease: LeaseResponse) -> String {
        [lease.owner?.short, lease.note.map { "(\($0))" }].compactMap { $0 }.joined(separator: " ")
    }

    static func age(_ seconds: TimeInterval) -> String {
        let whole = max(0, Int(seconds))
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return "\(whole / 60)m" }
        if whole < 86400 { return "\(whole / 3600)h\(whole % 3600 / 60)m" }
        return "\(whole / 86400)d\(whole % 86400 / 3600)h"
    }

    static func shellJoin(_ words: [String]) -> String {
        words.map { word in
            word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,@%+".contains($0) } ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

/// How devicectl shows tasks.
enum TaskText {
    static func describe(_ task: TaskResponse) -> String {
        var lines = ["task \(task.id)  \(task.family)"]
        if let owner = task.lease?.owner { lines.append("  owner      \(owner)") }
        for container in task.containers {
            lines.append("  container  \(container.name)  \(container.dockerName)  \(container.id.prefix(12))")
        }
        if let lease = task.lease {
            for device in lease.devices {
                lines.append("  \(device.role.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))\(device.nodes.map(\.path).joined(separator: ", "))")
            }
            for directory in lease.directories { lines.append("  directory  \(directory.path)") }
        }
        return lines.joined(separator: "\n")
    }

    static func table(_ tasks: [TaskResponse], now: Date) -> String {
        guard !tasks.isEmpty else { return "no tasks\n" }
        let header = ["FRACTAL ID", "FAMILY", "CONTAINERS", "DEVICES", "AGE"]
        let rows = tasks.map { task in
            [
                task.id.rawValue, task.family, task.containers.map(\.name).joined(separator: ","),
                task.lease.map { $0.devices.map(\.listed).joined(separator: ",") } ?? "-",
                LeaseText.age(now.timeIntervalSince(task.startedAt)),
            ]
        }
        return textTable(header: header, rows: rows)
    }
}

/// Columns padded to their widest cell, two spaces apart, one line per row.
func textTable(header: [String], rows: [[String]]) -> String {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
}

extension LeasedDevice {
    /// The role, marked when the device is an unplugged hot-plug slot: `gamepad(unplugged)`.
    fileprivate var listed: String { plugged ? role.rawValue : role.rawValue + "(unplugged)" }
}
