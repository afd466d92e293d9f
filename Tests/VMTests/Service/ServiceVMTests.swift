import CLibEvdev
import CUInput
import DeviceManager
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// fractal-agent as an operator runs it: the Debian package on a host whose PID 1 is Debian's
/// systemd (scripts/vm/run --systemd), with the real kernel, udevd and dockerd. Sessions keep
/// their devices across a crash, a restart and an upgrade through systemd's file-descriptor store.
@Suite(.serialized) struct ServiceVMTests {
    @Test func thePackageInstallsAVerifiedUnitAndServesRootAndTheFractalGroup() throws {
        try InstalledService.ensureRunning()
        let verify = try InstalledService.run(["systemd-analyze", "verify", "/usr/lib/systemd/system/fractal-agent.service"], allowingFailure: true)
        #expect(verify.status == 0 && verify.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "systemd-analyze verify: \(verify.output)")
        #expect(InstalledService.property("Type") == "notify")
        #expect(InstalledService.property("StatusText").contains("active lease"), "STATUS= is \(InstalledService.property("StatusText"))")
        // journald reads each line's priority: "listening" is info, so not among notices and worse.
        let info = try InstalledService.run(["journalctl", "-u", InstalledService.unit, "-b", "-p", "info", "-o", "cat", "--no-pager"]).output
        let notices = try InstalledService.run(["journalctl", "-u", InstalledService.unit, "-b", "-p", "notice", "-o", "cat", "--no-pager"]).output
        #expect(info.contains("[FractalDaemon] fractal-agent listening on /run/fractal-agent/agent.sock"), "\(info.suffix(2000))")
        #expect(!notices.contains("listening on"), "\(notices.suffix(2000))")

        let byRoot = try InstalledService.create("keyboard,mouse")
        #expect(byRoot.state == "active")
        // A member of the package's group, not root.
        try InstalledService.run(["useradd", "--create-home", "--groups", "fractal", "player"], allowingFailure: true)
        let member = try InstalledService.run(["runuser", "-u", "player", "--", "devicectl", "create", "--devices", "gamepad", "--json"], allowingFailure: true)
        #expect(member.status == 0, "devicectl as a member of fractal: \(member.output)")
        // Someone outside the group is turned away by the socket's mode.
        try InstalledService.run(["useradd", "--create-home", "stranger"], allowingFailure: true)
        let stranger = try InstalledService.run(["runuser", "-u", "stranger", "--", "devicectl", "list"], allowingFailure: true)
        #expect(stranger.status != 0)
        if member.status == 0 {
            let lease = try InstalledService.ShownLease(try JSONSerialization.jsonObject(with: Data(member.output.utf8)))
            try InstalledService.run(["devicectl", "release", lease.id])
        }
        try InstalledService.run(["devicectl", "release", byRoot.id])
    }

    /// What ends the daemon's process in each case.
    enum Interruption: String, CaseIterable, CustomTestStringConvertible {
        case killed = "kill -9 of the main PID"
        case restarted = "systemctl restart"
        case upgraded = "dpkg -i of a higher version"
        case hung = "a hang the watchdog catches"
        var testDescription: String { rawValue }
    }

    /// A program reading the lease's keyboard node keeps reading across the daemon's end: same
    /// node, no ENODEV, and a key injected through the new process arrives.
    @Test(arguments: Interruption.allCases)
    func aSessionKeepsItsDevicesWhenTheDaemonEnds(_ interruption: Interruption) throws {
        try InstalledService.ensureRunning()
        let lease = try InstalledService.create("keyboard,mouse,tablet")
        defer { _ = try? InstalledService.run(["devicectl", "release", lease.id], allowingFailure: true) }
        let keyboard = try #require(lease.eventNodes["keyboard"])
        let reader = try EvdevNode(keyboard)
        defer { withExtendedLifetime(reader) {} }
        let before = InstalledService.mainPID

        let socketPath = "/run/fractal-agent/sessions/\(lease.id)/socket/input.sock"
        var waitingClient: Process?
        switch interruption {
        case .killed:
            // A streaming server connecting while no process serves waits in the kept listener's backlog.
            try InstalledService.run(["kill", "-STOP", String(before)])
            waitingClient = try InstalledService.sessionClient(typing: UInt16(KEY_E), at: socketPath)
            usleep(500_000)
            try InstalledService.run(["kill", "-KILL", String(before)])
        case .restarted:
            try InstalledService.run(["systemctl", "restart", InstalledService.unit])
        case .upgraded:
            try InstalledService.run(["dpkg", "-i", try InstalledService.package(upgrade: true)])
        case .hung:
            // A short watchdog for this test only; a stopped process sends no pings.
            try FileManager.default.createDirectory(atPath: "/run/systemd/system/fractal-agent.service.d", withIntermediateDirectories: true)
            try "[Service]\nWatchdogSec=3s\n".write(toFile: "/run/systemd/system/fractal-agent.service.d/watchdog.conf", atomically: true, encoding: .utf8)
            try InstalledService.run(["systemctl", "daemon-reload"])
            try InstalledService.run(["systemctl", "restart", InstalledService.unit])
            try InstalledService.waitUntilServing(replacing: before)
            try InstalledService.run(["kill", "-STOP", String(InstalledService.mainPID)])
        }
        try InstalledService.waitUntilServing(replacing: before)
        if interruption == .hung {
            try FileManager.default.removeItem(atPath: "/run/systemd/system/fractal-agent.service.d/watchdog.conf")
            try InstalledService.run(["systemctl", "daemon-reload"])
            #expect(InstalledService.journal(lines: 200).contains("Watchdog timeout"), "no watchdog timeout in the journal")
        }

        if let waitingClient {
            waitingClient.waitUntilExit()
            #expect(waitingClient.terminationStatus == 0, "the client that connected during the restart was not served")
            let typed = try reader.read(count: 4)
            #expect(typed.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(KEY_E), value: 1)), "\(typed)")
        }
        let after = try InstalledService.inspect(lease.id)
        #expect(after.state == "active", "\(interruption.rawValue): the lease is \(after.state); journal:\n\(InstalledService.journal())" as Comment)
        #expect(after.eventNodes == lease.eventNodes)
        // The reader's descriptor still reads the same device: nothing pending, not ENODEV.
        var event = input_event()
        let got = Glibc.read(reader.fd, &event, MemoryLayout<input_event>.size)
        #expect(got < 0 && errno == EAGAIN, "read after \(interruption.rawValue): \(got < 0 ? String(cString: strerror(errno)) : "an event")")
        try InstalledService.run(["devicectl", "inject", lease.id, "keyboard", "--key", "KEY_Q"])
        let events = try reader.read(count: 4)
        #expect(events.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(KEY_Q), value: 1)), "\(events)")
        // The session socket still answers at its path, and its keys arrive.
        let client = try InstalledService.sessionClient(typing: UInt16(KEY_W), at: socketPath)
        client.waitUntilExit()
        #expect(client.terminationStatus == 0, "the session socket did not serve after \(interruption.rawValue)")
        let typed = try reader.read(count: 4)
        #expect(typed.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(KEY_W), value: 1)), "\(typed)")
        let listed = try InstalledService.run(["devicectl", "list"]).output
        #expect(listed.contains(lease.id) && listed.contains("active"), "\(listed)")
    }

    /// A game uploading a rumble effect while the daemon is down is answered by the next
    /// process, not left to the kernel's 30 s timeout.
    @Test func aForceFeedbackUploadDuringARestartIsAnswered() throws {
        try InstalledService.ensureRunning()
        let lease = try InstalledService.create("gamepad")
        defer { _ = try? InstalledService.run(["devicectl", "release", lease.id], allowingFailure: true) }
        let pad = try EvdevNode(try #require(lease.eventNodes["gamepad"]), flags: O_RDWR | O_NONBLOCK)
        let before = InstalledService.mainPID
        // Stopped, the daemon cannot answer: the upload below waits in the kernel.
        try InstalledService.run(["kill", "-STOP", String(before)])
        let result = UploadResult()
        let padFD = pad.fd
        let thread = Thread { result.value = cuinput_evdev_upload_rumble(padFD, -1, 0x8000, 0x8000, 200) }
        thread.start()
        usleep(300_000)
        try InstalledService.run(["kill", "-KILL", String(before)])
        try InstalledService.waitUntilServing(replacing: before)
        let deadline = ContinuousClock.now + .seconds(40)
        while result.value == nil && ContinuousClock.now < deadline { usleep(50_000) }
        let answered = try #require(result.value, "the upload never returned")
        #expect(answered >= 0, "EVIOCSFF across the restart: \(String(cString: strerror(-answered)))")
        withExtendedLifetime(pad) {}
    }

    /// A container started before the restart keeps its devices; its lease ends when it exits after it.
    @Test func aTaskStartedBeforeARestartKeepsItsDevicesAndEndsWithItsContainer() async throws {
        try InstalledService.ensureRunning()
        try requireDockerVM()
        _ = try await DockerTestImage.ensure()
        let definition: [String: Any] = [
            "taskDefinition": [
                "family": "kept",
                "containerDefinitions": [[
                    "name": "app", "image": DockerTestImage.reference, "essential": true,
                    "command": ["sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.2; done"],
                    "dockerLabels": ["fractal.devices": "keyboard,mouse"],
                ]],
            ],
        ]
        let file = FileManager.default.temporaryDirectory.appending(path: "kept-task-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: definition).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let started = try InstalledService.devicectlJSON(["run-task", file])
        let id = try #require((started as? [String: Any])?["id"] as? String, "run-task printed \(started)")
        let lease = try InstalledService.inspect(id)
        let before = InstalledService.mainPID

        try InstalledService.run(["systemctl", "restart", InstalledService.unit])
        try InstalledService.waitUntilServing(replacing: before)
        let after = try InstalledService.inspect(id)
        #expect(after.state == "active" && after.eventNodes == lease.eventNodes)
        let container = try InstalledService.run(["docker", "ps", "-q", "--filter", "label=fractal.id=\(id)"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(!container.isEmpty, "the task's container is not running")
        let seen = try InstalledService.run(["docker", "exec", container, "ls", "/dev/input"]).output
        for node in lease.eventNodes.values { #expect(seen.contains((node as NSString).lastPathComponent), "\(seen)") }

        // The container ends after the restart: the new process ends the task and its lease.
        try InstalledService.run(["docker", "exec", container, "touch", "/tmp/stop"])
        let deadline = ContinuousClock.now + .seconds(60)
        var gone = false
        while !gone && ContinuousClock.now < deadline {
            gone = try InstalledService.run(["devicectl", "inspect", id], allowingFailure: true).status != 0
            if !gone { usleep(200_000) }
        }
        #expect(gone, "lease \(id) outlived its container; journal:\n\(InstalledService.journal())")
    }

    /// A session's DualSense and Switch Pro outlive a restart as its uinput devices do: the same
    /// nodes, a reader on them reads on, the session's events reach them, and the new process
    /// answers their drivers and hidraw readers (a feature-report request would fail after 5 s).
    @Test func aSessionsPadsAreKeptAcrossARestart() throws {
        try InstalledService.ensureRunning()
        let created = try InstalledService.devicectlJSON(["create", "--devices", "keyboard,dualsense,switch-pro"])
        let lease = try InstalledService.ShownLease(created)
        defer { _ = try? InstalledService.run(["devicectl", "release", lease.id], allowingFailure: true) }
        func devices(_ json: Any) -> [[String: Any]] { ((json as? [String: Any])?["devices"] as? [[String: Any]]) ?? [] }
        func nodes(_ json: Any) -> [String] { devices(json).flatMap { ($0["nodes"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String } } }
        func node(_ json: Any, _ role: String, kind: String) -> String? {
            let device = devices(json).first { $0["role"] as? String == role }
            let found = (device?["nodes"] as? [[String: Any]] ?? []).first { $0["kind"] as? String == kind && $0["part"] == nil }
            return found?["path"] as? String
        }
        let gamepad = try #require(node(created, "dualsense", kind: "event"))
        let hidraw = try #require(node(created, "dualsense", kind: "hidraw"))
        let reader = try EvdevNode(gamepad)
        let before = InstalledService.mainPID
        try InstalledService.run(["systemctl", "restart", InstalledService.unit])
        try InstalledService.waitUntilServing(replacing: before)

        let after = try InstalledService.devicectlJSON(["inspect", lease.id])
        #expect(try InstalledService.ShownLease(after).state == "active", "\(InstalledService.journal(lines: 60))")
        #expect(nodes(after) == nodes(created))
        try InstalledService.run(["devicectl", "inject", lease.id, "dualsense", "--button", "BTN_SOUTH"])
        var read: [InputEvent] = []
        while !read.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_SOUTH), value: 1)) && read.count < 64 {
            read += try reader.read(count: 1)
        }
        #expect(read.contains(InputEvent(type: UInt16(EV_KEY), code: UInt16(BTN_SOUTH), value: 1)), "\(read)")
        // HIDIOCGFEATURE for the calibration report (0x05, 41 bytes), as Steam and SDL ask through hidraw.
        let ask = """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            buffer = bytearray(41); buffer[0] = 0x05
            print(fcntl.ioctl(fd, (3 << 30) | (41 << 16) | (ord('H') << 8) | 0x07, buffer, True))
            """
        let answered = try InstalledService.run(["python3", "-c", ask, hidraw], allowingFailure: true)
        #expect(answered.status == 0 && answered.output.trimmingCharacters(in: .whitespacesAndNewlines) == "41", "\(answered.output)")
    }

    /// A kept descriptor that no longer matches its lease's record is closed, never adopted:
    /// the lease is released and the device is gone.
    @Test func aKeptDescriptorThatNoLongerMatchesItsLeaseIsClosedNotAdopted() throws {
        try InstalledService.ensureRunning()
        let lease = try InstalledService.create("keyboard")
        let before = InstalledService.mainPID
        try InstalledService.run(["kill", "-STOP", String(before)])
        // The record now names another device than the one the store keeps.
        let edit = """
            import json, sqlite3, sys
            db = sqlite3.connect('/var/lib/fractal-agent/state.sqlite')
            (record,) = db.execute('SELECT record FROM lease WHERE id = ?', (sys.argv[1],)).fetchone()
            lease = json.loads(record)
            lease['devices'][0]['phys'] = 'fractal/someone-else/keyboard'
            db.execute('UPDATE lease SET record = ? WHERE id = ?', (json.dumps(lease).encode(), sys.argv[1]))
            db.commit()
            """
        try InstalledService.run(["python3", "-c", edit, lease.id])
        try InstalledService.run(["kill", "-KILL", String(before)])
        try InstalledService.waitUntilServing(replacing: before)
        #expect(try InstalledService.run(["devicectl", "inspect", lease.id], allowingFailure: true).status != 0)
        let journal = InstalledService.journal(lines: 80)
        #expect(journal.contains("not adopted"), "\(journal)")
        let keyboard = try #require(lease.eventNodes["keyboard"])
        #expect(access(keyboard, F_OK) != 0 || (try? EvdevNode(keyboard))?.phys != "fractal/\(lease.id)/keyboard", "the unadopted keyboard still exists")
    }

    /// A state database that cannot be read stops the service with the file named, and systemd
    /// does not restart it in a loop (exit 2).
    @Test func aDamagedStateDatabaseStopsTheServiceNamingTheFile() throws {
        try InstalledService.ensureRunning()
        let path = "/var/lib/fractal-agent/state.sqlite"
        try InstalledService.run(["systemctl", "stop", InstalledService.unit])
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: path))
        defer {
            try? FileManager.default.removeItem(atPath: path)
            _ = try? InstalledService.run(["systemctl", "reset-failed", InstalledService.unit], allowingFailure: true)
        }
        let start = try InstalledService.run(["systemctl", "start", InstalledService.unit], allowingFailure: true)
        #expect(start.status != 0)
        usleep(1_000_000)
        #expect(InstalledService.property("ActiveState") == "failed")
        #expect(InstalledService.property("ExecMainStatus") == "2")
        #expect(InstalledService.property("NRestarts") == "0")
        #expect(InstalledService.journal(lines: 30).contains(path))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x5A, count: 4096))
    }

    /// Purge leaves no file, unit, group, rule, directory or device behind.
    @Test func purgeLeavesNothingBehind() throws {
        try InstalledService.ensureRunning()
        let lease = try InstalledService.create("keyboard,gamepad")
        let files = try InstalledService.run(["dpkg", "-L", "fractal-agent"]).output.split(separator: "\n").map(String.init)
        try InstalledService.run(["dpkg", "--purge", "fractal-agent"])

        for file in files where !["/.", "/usr", "/usr/bin", "/usr/lib", "/usr/share", "/etc", "/usr/lib/systemd", "/usr/lib/systemd/system",
                                  "/usr/lib/udev", "/usr/lib/udev/rules.d", "/usr/share/man", "/usr/share/doc", "/usr/lib/sysusers.d",
                                  "/usr/lib/modules-load.d"].contains(file)
            && !file.hasPrefix("/usr/share/man/man") && !file.hasPrefix("/usr/share/bash-completion") && !file.hasPrefix("/usr/share/zsh")
            && !file.hasPrefix("/usr/share/fish") || file.hasSuffix(".gz") || file.contains("fractal") {
            var info = stat()
            let exists = lstat(file, &info) == 0
            #expect(!exists || info.st_mode & S_IFMT == S_IFDIR && !file.contains("fractal"), "\(file) is left")
        }
        for path in ["/var/lib/fractal-agent", "/run/fractal-agent", "/etc/fractal-agent", "/usr/lib/systemd/system/fractal-agent.service"] {
            #expect(access(path, F_OK) != 0, "\(path) is left")
        }
        #expect(try InstalledService.run(["getent", "group", "fractal"], allowingFailure: true).status != 0, "the group fractal is left")
        let rules = try InstalledService.run(["sh", "-c", "ls /usr/lib/udev/rules.d /etc/udev/rules.d | grep -i fractal"], allowingFailure: true)
        #expect(rules.output.isEmpty, "udev rules left: \(rules.output)")
        #expect(InstalledService.property("LoadState") == "not-found")
        let devices = try InstalledService.run(["sh", "-c", "grep -l '^fractal/' /sys/class/input/input*/phys"], allowingFailure: true)
        #expect(devices.output.isEmpty, "devices left: \(devices.output) (lease \(lease.id))")
    }
}

/// What the uploading thread got back, read by the test.
private final class UploadResult: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int32?
    var value: Int32? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
