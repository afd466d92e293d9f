import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// A burst of lease requests on a loaded host queues and succeeds; udevd runs no program for them.
@Suite(.serialized) struct LeaseBurstVMTests {
    /// Busy loops on every CPU of the VM, as on a streaming host already at work; stopped on deinit.
    final class CPULoad {
        private var processes: [Process] = []

        init() throws {
            for _ in 0..<max(2, ProcessInfo.processInfo.activeProcessorCount) {
                let process = Process()
                process.executableURL = URL(filePath: "/bin/sh")
                process.arguments = ["-c", "while :; do :; done"]
                try process.run()
                processes.append(process)
            }
        }

        deinit {
            for process in processes {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    @Test func fiftyConcurrentLeasesWithTheCPUsBusyAllSucceedInTurnAndLeaveNothing() async throws {
        try requireVM()
        try installUdevRules()
        // A short udev timeout, not the long one the other daemon tests use: admitted all at once,
        // every lease of the burst waits on all the others' uevents and most run past it (as 41
        // of 50 did past 10 s on a busy host); queued, a lease fails only if udevd finishes none
        // of our devices for 5 s.
        let daemon = try DaemonProcess(extraArguments: ["--udev-timeout", "5"])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let load = try CPULoad()

        let outcomes = await withTaskGroup(of: Result<LeaseResponse, any Error>.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do { return .success(try await client.createLease(CreateLeaseRequest())) } catch { return .failure(error) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        withExtendedLifetime(load) {}
        let failures = outcomes.compactMap { outcome -> String? in
            if case .failure(let error) = outcome { "\(error)" } else { nil }
        }
        #expect(failures.isEmpty, "\(failures.count) of 50 failed, e.g. \(failures.first ?? "")")
        let leases = outcomes.compactMap { try? $0.get() }
        let ids = Set(leases.map(\.id.rawValue))
        #expect(ids.count == 50)
        for lease in leases {
            #expect(lease.state == .active && lease.udev == .initialized)
            #expect(lease.devices.map(\.role) == [.keyboard, .mouse, .tablet])
            #expect(lease.devices.allSatisfy { $0.stableLink == "/dev/input/by-fractal-id/\(lease.id)/\($0.role.rawValue)" })
        }
        #expect(sysfsDevices(of: ids).count == 150)
        #expect(try await client.leases().count == 50)

        // Every creation went through the queue, and none waits now.
        let metrics = try await client.metrics()
        #expect(metrics.contains("fractal_lease_admissions_total 50"), "\(metrics)")
        #expect(metrics.contains("fractal_lease_queue_depth 0"))
        #expect(metrics.contains("fractal_lease_creations_in_flight 0"))
        #expect(metrics.contains("fractal_lease_queue_refused_total 0"))

        try await withThrowingTaskGroup(of: Void.self) { group in
            for lease in leases {
                group.addTask { _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false) }
            }
            try await group.waitForAll()
        }
        #expect(sysfsDevices(of: ids).isEmpty)
        #expect(try await client.leases().isEmpty)
        let links = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/input/by-fractal-id")) ?? []
        #expect(Set(links).isDisjoint(with: ids))
        daemon.stop()
    }

    /// Our rules name the devices without spawning anything: per-role phys matches and the
    /// properties file the daemon writes, read by udevd itself.
    @Test func udevRunsNoProgramForALeasesDevices() async throws {
        try requireVM()
        try installUdevRules()
        let rules = try String(contentsOfFile: UdevRules.defaultDirectory + "/" + UdevRules.fileName, encoding: .utf8)
        let keys = rules.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(!keys.contains { $0.contains("PROGRAM") || $0.contains("RUN") }, "\(rules)")

        let daemon = try DaemonProcess()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let lease = try await client.createLease(CreateLeaseRequest(devices: ["keyboard", "gamepad", "mouse"]))
        let gamepad = try #require(lease.devices.first { $0.role == .gamepad })
        #expect(gamepad.stableLink == "/dev/input/by-fractal-id/\(lease.id)/gamepad")
        // Every node has a link of the lease's own (what the kubelet's answer names), each to that very node.
        for device in lease.devices {
            for node in device.nodes {
                let kind = try #require(DeviceNode.Kind(rawValue: node.kind))
                let link = DeviceNode.stableLink(id: lease.id, role: device.role, kind: kind)
                #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)).map { ($0 as NSString).lastPathComponent }
                    == (node.path as NSString).lastPathComponent, "\(link)")
            }
        }

        // udevadm test runs the rules on the input device and on its nodes and says what it ran.
        for sysname in [gamepad.sysname] + gamepad.nodes.map({ ($0.path as NSString).lastPathComponent }) {
            let (status, output) = try runTool(["udevadm", "test", "--action=add", "/sys/class/input/\(sysname)"])
            #expect(status == 0, "\(output)")
            // Other rules import builtins (input_id, hwdb); ours import only the daemon's file.
            let ours = output.split(separator: "\n").filter { $0.contains(UdevRules.fileName + ":") }
            #expect(ours.contains { $0.contains("Importing properties from '/run/fractal-agent/udev/fractal/\(lease.id)/gamepad'") }, "\(output)")
            #expect(!ours.contains { $0.contains("PROGRAM") || $0.contains("results of") || $0.contains("RUN") }, "\(output)")
            #expect(!output.contains("/bin/sh"))
            #expect(output.contains("FRACTAL_ID=\(lease.id)") && output.contains("FRACTAL_ROLE=gamepad"), "\(output)")
            #expect(output.contains("FRACTAL_HOST_HIDDEN=1"))
        }
        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        daemon.stop()
    }
    /// The rules import the file their device's phys names. Whoever else can make uinput devices
    /// (root, a `trusted` session recreating its device) chooses the phys: one that steps out of
    /// the daemon's directory must import nothing, or udevd would read a host file of the
    /// attacker's choosing into the device's properties.
    @Test func aPhysThatStepsOutOfThePropertyDirectoryImportsNothing() throws {
        try requireVM()
        try installUdevRules()
        let planted = "/tmp/fractal-planted"
        try FileManager.default.createDirectory(atPath: planted + "/x", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: planted) }
        try Data("FRACTAL_ID=stolen\nID_SEAT=seat0\n".utf8).write(to: URL(filePath: planted + "/keyboard"))
        try Data("FRACTAL_ID=stolen\nID_SEAT=seat0\n".utf8).write(to: URL(filePath: planted + "/x/keyboard"))
        // As on a host whose daemon has made a lease: the kernel resolves ".." only through
        // directories that exist.
        let properties = "/run/fractal-agent/udev/fractal/x"
        try FileManager.default.createDirectory(atPath: properties, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: properties) }
        // The rules import <directory>/<phys>, <directory> being /run/fractal-agent/udev: four steps up is /.
        for phys in ["fractal/../../../../tmp/fractal-planted/keyboard", "fractal/x/../../../../../tmp/fractal-planted/x/keyboard"] {
            let device = try UInputDevice(profile: .keyboard, phys: phys)
            defer { device.close() }
            _ = try runTool(["udevadm", "settle", "--timeout=30"])
            let (status, output) = try runTool(["udevadm", "info", "--query=property", "/sys/class/input/\(device.sysname)"])
            #expect(status == 0, "\(output)")
            #expect(!output.contains("stolen"), "\(phys): \(output)")
            #expect(!output.contains("ID_SEAT=seat0"), "\(phys): \(output)")
            #expect(!FileManager.default.fileExists(atPath: "/dev/input/by-fractal-id/stolen"))
        }
    }
}
