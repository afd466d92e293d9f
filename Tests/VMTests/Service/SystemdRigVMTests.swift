import Foundation
import Testing

/// The VM rig's --systemd boot is what the service tests stand on: systemd as PID 1 with a
/// finished boot, transient units, and restarts of a killed service, as on a real host.
/// Run with `scripts/vm/run --systemd -- <the test binary> --filter VMTests.SystemdRigVMTests`.
@Suite struct SystemdRigVMTests {
    /// systemctl's answer, trimmed; fails the test if systemctl cannot be run at all.
    static func systemctl(_ arguments: String...) throws -> (status: Int32, output: String) {
        let result = try runTool(["systemctl"] + arguments)
        return (result.status, result.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func pidOneIsSystemdAndTheBootIsDone() throws {
        try requireVM()
        let pidOne = try String(contentsOfFile: "/proc/1/comm", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pidOne == "systemd", "PID 1 is \(pidOne): boot the VM with scripts/vm/run --systemd")
        // degraded still means the boot finished; a failed unit is named in the journal.
        let state = try Self.systemctl("is-system-running").output
        #expect(["running", "degraded"].contains(state), "systemctl is-system-running says \(state)")
    }

    @Test func transientServiceRuns() throws {
        try requireVM()
        let succeeded = try runTool(["systemd-run", "--wait", "--quiet", "-p", "Type=oneshot", "true"])
        #expect(succeeded.status == 0, "systemd-run true: \(succeeded.output)")
        let failed = try runTool(["systemd-run", "--wait", "--quiet", "-p", "Type=oneshot", "false"])
        #expect(failed.status != 0, "systemd-run false reported success")
    }

    @Test func killedServiceIsRestarted() throws {
        try requireVM()
        let unit = "fractal-rig-probe-\(UInt32.random(in: 0...UInt32.max)).service"
        let path = "/run/systemd/system/\(unit)"
        try FileManager.default.createDirectory(atPath: "/run/systemd/system", withIntermediateDirectories: true)
        try "[Service]\nExecStart=/bin/sleep infinity\nRestart=on-failure\nRestartSec=100ms\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer {
            _ = try? Self.systemctl("stop", unit)
            try? FileManager.default.removeItem(atPath: path)
            _ = try? Self.systemctl("daemon-reload")
        }
        try #require(try Self.systemctl("daemon-reload").status == 0)
        try #require(try Self.systemctl("start", unit).status == 0)
        let first = try Self.systemctl("show", "-P", "MainPID", unit).output
        try #require(first != "0", "\(unit) has no main process")

        #expect(try Self.systemctl("kill", "-s", "KILL", unit).status == 0)
        // Waits for the restart, however slow the emulated CPU; the bound only catches a hang.
        var second = first
        var polls = 0
        while second == first || second == "0", polls < 600 {
            usleep(50_000)
            second = try Self.systemctl("show", "-P", "MainPID", unit).output
            polls += 1
        }
        #expect(second != first && second != "0", "\(unit) was not restarted (main PID \(first), then \(second))")
        #expect(try Self.systemctl("show", "-P", "NRestarts", unit).output == "1")
        #expect(try Self.systemctl("is-active", unit).output == "active")
    }
}
