import Foundation

/// Runs a program that real users run (libinput, evtest, SDL2 through python3) and returns its
/// exit status and output; a program that does not finish in time is killed and reported.
@discardableResult
func runTool(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(filePath: "/usr/bin/env")
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read on a GCD thread, never on the cooperative pool, which blocking here would starve.
    let output = OutputCollector()
    let finished = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        output.data = pipe.fileHandleForReading.readDataToEndOfFile()
        finished.signal()
    }
    let deadline = ContinuousClock.now + timeout
    while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        throw VMTestFailure(description: "\(arguments.joined(separator: " ")) did not finish within \(timeout)")
    }
    process.waitUntilExit()
    finished.wait()
    return (process.terminationStatus, String(decoding: output.data, as: UTF8.self))
}

private final class OutputCollector: @unchecked Sendable {
    var data = Data()
}

/// The repository's root, for the helper scripts beside the tests.
let repositoryRoot = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
