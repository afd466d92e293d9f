import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// The daemon's CDI specs against the real kernel and udevd: what a CDI engine would read, at
/// each point of a lease's life, and what a broken spec directory does. (Podman running them is
/// `PodmanCDIVMTests`.)
@Suite(.serialized) struct CDISpecVMTests {
    static func spec(at path: String) throws -> CDISpec {
        try JSONDecoder().decode(CDISpec.self, from: Data(contentsOf: URL(filePath: path)))
    }

    @Test func aLeasesSpecHasItsNodesAsUdevLeftThemFollowsHotPlugAndGoesWithIt() async throws {
        try requireVM()
        let cdi = "/tmp/cdi-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: cdi, withIntermediateDirectories: true)
        let daemon = try DaemonProcess(extraArguments: ["--cdi-dir", cdi])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }

        let lease = try await client.createLease(CreateLeaseRequest(
            devices: ["keyboard", "mouse"], directories: [try daemon.directory(",tmpfs=1M")], hotplug: ["gamepad"]))
        #expect(lease.cdiDevice == "fractal.dev/input=\(lease.id)")
        let file = CDISpecDirectory(path: cdi).file(of: lease.id)
        let spec = try Self.spec(at: file)
        #expect(spec.cdiVersion == "0.5.0" && spec.kind == "fractal.dev/input")
        let device = try #require(spec.devices.first)
        #expect(spec.devices.count == 1 && device.name == lease.id.rawValue)
        let plugged = lease.devices.filter(\.plugged).flatMap(\.nodes)
        let nodes = try #require(device.containerEdits.deviceNodes)
        #expect(nodes.map(\.hostPath) == plugged.map(\.path))
        #expect(nodes.map { "\($0.major):\($0.minor)" } == plugged.map { "\($0.major):\($0.minor)" })
        for node in nodes {
            // The container's node is made as the host's is after udevd (never 0666 root, the runtimes' default).
            var status = stat()
            #expect(stat(node.hostPath, &status) == 0)
            #expect(node.fileMode == UInt32(status.st_mode & 0o7777) && node.gid == status.st_gid && node.uid == status.st_uid, "\(node)")
            #expect(node.fileMode == 0o660)
        }
        let session = try #require(lease.session)
        #expect(device.containerEdits.mounts?.map(\.containerPath) == [lease.directories[0].path, "/run/fractal", "/run/udev"])
        #expect(device.containerEdits.mounts?.map(\.hostPath) == [lease.directories[0].path, session.socketDirectory, session.udevDirectory])
        #expect(device.containerEdits.env == ["FRACTAL_ID=\(lease.id)", "FRACTAL_SESSION_SOCKET=/run/fractal/input.sock"])
        // The slot has no node yet: a CDI engine cannot grant a number without one.
        let gamepad = try #require(lease.devices.first { $0.role == .gamepad })
        #expect(!nodes.contains { $0.hostPath == gamepad.nodes[0].path })

        _ = try await client.plug(lease.id.rawValue, role: "gamepad")
        #expect(try Self.spec(at: file).devices[0].containerEdits.deviceNodes?.map(\.hostPath) == plugged.map(\.path) + gamepad.nodes.map(\.path))
        _ = try await client.unplug(lease.id.rawValue, role: "gamepad")
        #expect(try Self.spec(at: file).devices[0].containerEdits.deviceNodes?.map(\.hostPath) == plugged.map(\.path))

        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cdi).isEmpty)
        daemon.stop()
    }

    @Test func aMissingSpecDirectoryFailsTheLeaseNamingItAndLeavesNothing() async throws {
        try requireVM()
        let missing = "/tmp/cdi-missing-\(UUID().uuidString.prefix(8))"
        let daemon = try DaemonProcess(extraArguments: ["--cdi-dir", missing])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let id = "cdi-missing-\(UUID().uuidString.prefix(8).lowercased())"
        do {
            _ = try await client.createLease(CreateLeaseRequest(id: id, directories: [try daemon.directory(",tmpfs=1M")]))
            Issue.record("a lease was made with no CDI spec directory")
        } catch FractalClientError.api(let status, let message) {
            #expect(status == 500)
            #expect(message.contains(missing) && message.contains("CDI spec"), "\(message)")
        }
        #expect(try await client.leases().isEmpty)
        #expect(sysfsDevices(of: [id]).isEmpty)
        #expect(daemon.rootEntries.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/dev/input/by-fractal-id/\(id)"))
        #expect(!FileManager.default.fileExists(atPath: daemon.sessionRoot + "/" + id))
        // An ID no CDI reader could name is refused before anything is made.
        do {
            _ = try await client.createLease(CreateLeaseRequest(id: "ends-with-dash-"))
            Issue.record("a lease was made whose ID cannot name a CDI device")
        } catch FractalClientError.api(let status, let message) {
            #expect(status == 400 && message.contains("must end with a letter or digit"), "\(message)")
        }
        daemon.stop()
    }

    @Test func startUpKeepsNoSpecOfALeaseThatEnded() async throws {
        try requireVM()
        let cdi = "/tmp/cdi-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: cdi, withIntermediateDirectories: true)
        let specs = CDISpecDirectory(path: cdi)
        // Another vendor's spec is never touched.
        let foreign = cdi + "/vendor.example-gpu.json"
        #expect(FileManager.default.createFile(atPath: foreign, contents: Data("{}".utf8)))
        let daemon = try DaemonProcess(extraArguments: ["--cdi-dir", cdi])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let lease = try await client.createLease(CreateLeaseRequest(devices: ["keyboard"]))
        #expect(FileManager.default.fileExists(atPath: specs.file(of: lease.id)))
        // Without systemd's store the devices die with the process: its spec must not outlive them.
        daemon.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: specs.file(of: lease.id)))
        try daemon.start()
        #expect(!FileManager.default.fileExists(atPath: specs.file(of: lease.id)))
        #expect(try await client.leases().first { $0.id == lease.id }?.state == .devicesLost)
        #expect(try await client.leases().first { $0.id == lease.id }?.cdiDevice == nil)
        #expect(FileManager.default.fileExists(atPath: foreign))
        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        daemon.stop()
    }
}
