import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// The daemon end to end in the VM, with the real udevd running fractal-agent's rules.
@Suite(.serialized) struct LeaseDaemonVMTests {
    @Test func fiftyConcurrentLeasesComeBackInitialisedAndLeaveNothingWhenReleased() async throws {
        try requireVM()
        try installUdevRules()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let baselineMounts = daemon.mountsUnderRoot.count
        let directory = try daemon.directory(",tmpfs=1M")

        let leases = try await withThrowingTaskGroup(of: LeaseResponse.self) { group in
            for _ in 0..<50 {
                group.addTask { try await client.createLease(CreateLeaseRequest(directories: [directory])) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(leases.count == 50)
        let ids = Set(leases.map(\.id.rawValue))
        #expect(ids.count == 50)
        for lease in leases {
            #expect(lease.udev == .initialized)
            #expect(lease.devices.map(\.role) == [.keyboard, .mouse, .tablet])
            for device in lease.devices {
                let link = "/dev/input/by-fractal-id/\(lease.id)/\(device.role.rawValue)"
                #expect(device.stableLink == link)
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: link)
                #expect(device.nodes.first?.path.hasSuffix((target as NSString).lastPathComponent) == true, "\(link) -> \(target)")
            }
        }
        #expect(sysfsDevices(of: ids).count == 150)
        #expect(daemon.rootEntries.count == 50)
        #expect(daemon.mountsUnderRoot.count == baselineMounts + 50)

        // What the rules did, as udevadm shows it.
        let sample = try #require(leases.first)
        let info = try runTool(["udevadm", "info", "/dev/input/by-fractal-id/\(sample.id)/keyboard"]).output
        #expect(info.contains("E: FRACTAL_ID=\(sample.id)"))
        #expect(info.contains("E: FRACTAL_ROLE=keyboard"))
        #expect(info.contains("E: ID_SEAT=seat-fractal"))
        #expect(info.contains("E: ID_INPUT_KEYBOARD=1"))
        let currentTags = info.split(separator: "\n").first { $0.hasPrefix("E: CURRENT_TAGS=") } ?? ""
        #expect(!currentTags.contains(":seat:") && !currentTags.contains(":uaccess:"), "\(currentTags)")
        let keyboardNode = try #require(sample.devices.first?.nodes.first?.path)
        var nodeInfo = stat()
        #expect(stat(keyboardNode, &nodeInfo) == 0)
        #expect(nodeInfo.st_mode & 0o777 == 0o660)

        // The host's seat does not list them: libinput's udev backend on seat0.
        let listed = try runTool(["libinput", "list-devices"]).output
        #expect(!listed.contains("Fractal Virtual"), "libinput on seat0 lists a session's device:\n\(listed)")

        try await withThrowingTaskGroup(of: Void.self) { group in
            for lease in leases {
                group.addTask { _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false) }
            }
            try await group.waitForAll()
        }
        #expect(sysfsDevices(of: ids).isEmpty)
        #expect(daemon.rootEntries.isEmpty)
        #expect(daemon.mountsUnderRoot.count == baselineMounts)
        #expect(try await client.leases().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/dev/input/by-fractal-id/\(sample.id)"))
        daemon.stop()
    }

    @Test func killedWhileCreatingThenRestartedLeavesNoOrphanAndListsTheTruth() async throws {
        try requireVM()
        try installUdevRules()
        let daemon = try DaemonProcess()
        let client = daemon.client()
        let directory = try daemon.directory(",tmpfs=1M")
        // Fire creations and kill the daemon while they run.
        let creations = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask { _ = try? await client.createLease(CreateLeaseRequest(directories: [directory])) }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(700))
        daemon.stop(signal: SIGKILL)
        await creations.value
        await client.shutdown()

        try daemon.start()
        let restarted = daemon.client()
        defer { Task { await restarted.shutdown() } }
        let leases = try await restarted.leases()
        // Every lease listed lost its devices with the killed process; none is half-made.
        #expect(leases.allSatisfy { $0.state == .devicesLost }, "\(leases.map { "\($0.id) \($0.state)" })")
        let listedDirectories = Set(leases.flatMap(\.directories).map(\.path))
        let onDisk = Set(daemon.rootEntries.map { daemon.root + "/" + $0 })
        #expect(onDisk == listedDirectories, "orphan directories: \(onDisk.subtracting(listedDirectories))")
        let mounted = Set(daemon.mountsUnderRoot)
        #expect(mounted == listedDirectories, "orphan mounts: \(mounted.subtracting(listedDirectories))")
        // Nothing of the killed process's devices is left in the kernel.
        #expect(sysfsDevices(of: Set(leases.map(\.id.rawValue))).isEmpty)

        let (status, table) = try daemon.devicectl(["list"])
        #expect(status == 0)
        for lease in leases { #expect(tableHasRow(table, [lease.id.rawValue, "devices-lost"]), "\(table)") }

        for lease in leases { _ = try await restarted.releaseLease(lease.id.rawValue, keepDirectories: false) }
        #expect(daemon.rootEntries.isEmpty)
        #expect(daemon.mountsUnderRoot.isEmpty)
        daemon.stop()
    }

    @Test func badRequestsAreRefusedWithTheRightStatusAndLeaveNothing() async throws {
        try requireVM()
        let daemon = try DaemonProcess(extraArguments: ["--max-leases", "2"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }

        func status(_ request: CreateLeaseRequest) async -> Int? {
            do {
                _ = try await client.createLease(request)
                return 201
            } catch let error as FractalClientError {
                return error.status
            } catch {
                return nil
            }
        }
        _ = try await client.createLease(CreateLeaseRequest(id: "taken", devices: ["keyboard"]))
        #expect(await status(CreateLeaseRequest(id: "taken", devices: ["keyboard"])) == 409)
        #expect(await status(CreateLeaseRequest(id: "Bad/ID")) == 400)
        #expect(await status(CreateLeaseRequest(devices: ["keyboard", "joystick"])) == 400)
        #expect(await status(CreateLeaseRequest(devices: ["keyboard", "keyboard"])) == 400)
        // Built directly: the client-side parser would refuse it before it reached the daemon.
        let escaping = DirectoryRequest(template: daemon.root + "/../%%FRACTAL_ID_PLACEHOLDER%%")
        #expect(await status(CreateLeaseRequest(devices: ["keyboard"], directories: [escaping])) == 400)
        symlink("/etc", daemon.root + "/link")
        let throughLink = try DirectoryRequest.parse(daemon.root + "/link/%%FRACTAL_ID_PLACEHOLDER%%")
        #expect(await status(CreateLeaseRequest(devices: ["keyboard"], directories: [throughLink])) == 400)
        unlink(daemon.root + "/link")
        _ = try await client.createLease(CreateLeaseRequest(devices: ["mouse"]))
        #expect(await status(CreateLeaseRequest(devices: ["mouse"])) == 503)

        // Only the two good leases exist; nothing else was left in the kernel or on disk.
        let leases = try await client.leases()
        #expect(leases.count == 2)
        #expect(sysfsDevices(of: Set(leases.map(\.id.rawValue))).count == 2)
        #expect(daemon.rootEntries.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/etc/taken"))

        // Malformed JSON gets a message, not a crash.
        let (_, answer) = try runTool(["curl", "-s", "--unix-socket", daemon.socketPath, "-X", "POST", "-d", "{nope", "http://localhost/v1/leases"])
        #expect(answer.contains("\"message\""), "\(answer)")

        // A peer without permission on the socket is told why.
        let (deniedStatus, denied) = try runTool(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                  try DaemonProcess.executable("devicectl"), "list", "--socket", daemon.socketPath])
        #expect(deniedStatus != 0)
        #expect(denied.contains("permission denied"), "\(denied)")
        daemon.stop()
    }

    @Test func devicectlCreatesInjectsAndReleases() async throws {
        try requireVM()
        try installUdevRules()
        let daemon = try DaemonProcess()
        let (status, created) = try daemon.devicectl(["create", "--id", "typing", "--devices", "keyboard,mouse,gamepad", "--dir", daemon.root + "/%%FRACTAL_ID_PLACEHOLDER%%,mode=0700"])
        #expect(status == 0, "\(created)")
        #expect(created.contains("lease typing  active  udev: initialized"))
        #expect(created.contains("/dev/input/js"))
        #expect(created.contains("--device /dev/input/event"))
        #expect(created.contains("-v \(daemon.root)/typing:\(daemon.root)/typing"))

        let reader = try EvdevNode("/dev/input/by-fractal-id/typing/keyboard")
        let (injected, message) = try daemon.devicectl(["inject", "typing", "keyboard", "--text", "Hi"])
        #expect(injected == 0, "\(message)")
        let keys = try reader.read(count: 12).filter { $0.type == 1 }.map { "\($0.code):\($0.value)" }
        // Shift down, H down, H up, Shift up, I down, I up.
        #expect(keys == ["42:1", "35:1", "35:0", "42:0", "23:1", "23:0"])

        let (listed, table) = try daemon.devicectl(["list"])
        #expect(listed == 0)
        #expect(table.hasPrefix("FRACTAL ID"))
        #expect(tableHasRow(table, ["typing", "active", "keyboard,mouse,gamepad"]), "\(table)")
        let (_, metrics) = try runTool(["curl", "-s", "--unix-socket", daemon.socketPath, "http://localhost/metrics"])
        #expect(metrics.contains("fractal_leases{state=\"active\"} 1"), "\(metrics)")
        #expect(metrics.contains("fractal_devices 3"))

        let (released, output) = try daemon.devicectl(["release", "typing"])
        #expect(released == 0, "\(output)")
        #expect(output.contains("released typing: 3 device(s)"))
        #expect(daemon.rootEntries.isEmpty)
        let (again, missing) = try daemon.devicectl(["release", "typing"])
        #expect(again == 1)
        #expect(missing.contains("no lease with FractalID typing"))
        daemon.stop()

        let (down, unreachable) = try daemon.devicectl(["list"])
        #expect(down == 3)
        #expect(unreachable.contains("cannot reach fractal-agent at \(daemon.socketPath)"))
        #expect(unreachable.contains("fractal-agent --socket"))
    }

    @Test func sigtermKeepsDirectoriesForRunningContainersAndRestartReportsLostDevices() async throws {
        try requireVM()
        let daemon = try DaemonProcess()
        let first = daemon.client()
        let lease = try await first.createLease(CreateLeaseRequest(devices: ["keyboard"], directories: [try daemon.directory(",tmpfs=1M")]))
        await first.shutdown()
        daemon.stop(signal: SIGTERM)
        #expect(daemon.rootEntries == [lease.id.rawValue])
        #expect(sysfsDevices(of: [lease.id.rawValue]).isEmpty)

        try daemon.start()
        let client = daemon.client()
        let found = try await client.lease(lease.id.rawValue)
        #expect(found.state == .devicesLost)
        #expect(daemon.logText.contains("lost its devices with the previous process"))
        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        #expect(daemon.rootEntries.isEmpty)
        #expect(daemon.mountsUnderRoot.isEmpty)
        await client.shutdown()
        daemon.stop()
    }
}

/// Whether a devicectl table has a row starting with these cells, however the columns are padded.
func tableHasRow(_ table: String, _ cells: [String]) -> Bool {
    table.split(separator: "\n").contains { line in
        Array(line.split(separator: " ", omittingEmptySubsequences: true).prefix(cells.count).map(String.init)) == cells
    }
}
