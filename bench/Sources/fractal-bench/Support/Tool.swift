import Foundation

/// Why a benchmark could not do its job.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs other programs: udevadm, devicectl, python3.
enum Tool {
    /// Runs `arguments` to completion and returns its status and output (stdout and stderr).
    @discardableResult
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(filePath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Waits until udevd's queue is empty, so that what it does for one sample's devices
    /// (adding or removing them) does not run into the next sample.
    static func settleUdev() throws {
        let (status, output) = try run(["/usr/bin/udevadm", "settle", "--timeout=60"])
        guard status == 0 else { throw BenchFailure("udevadm settle: \(output)") }
    }

    /// Whether a udevd runs (its control socket exists).
    static var udevRunning: Bool { access("/run/udev/control", F_OK) == 0 }
}
