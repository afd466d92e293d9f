import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import Testing

/// A lease reaches a container through CDI alone: the daemon writes the lease's spec, and
/// Debian's podman (4.3, rootful) is asked for nothing but `--device fractal.dev/input=<id>`.
@Suite(.serialized) struct PodmanCDIVMTests {
    /// Where podman reads transient specs; the VM's root is a throwaway overlay.
    static let cdiDirectory = "/var/run/cdi"

    /// The name an engine takes, and the file the daemon keeps for it: CDI's own naming, restated
    /// here because it is the contract with every engine.
    static func device(_ id: FractalID) -> String { "fractal.dev/input=\(id.rawValue)" }
    static func specFile(_ id: FractalID) -> String { "\(cdiDirectory)/fractal.dev-input_\(id.rawValue).json" }

    static func daemon() throws -> DaemonProcess {
        try installUdevRules()
        try FileManager.default.createDirectory(atPath: cdiDirectory, withIntermediateDirectories: true)
        return try DaemonProcess(extraArguments: ["--cdi-dir", cdiDirectory])
    }

    static func nodes(of lease: LeaseResponse) -> [LeasedNode] { lease.devices.flatMap(\.nodes) }

    /// `path`'s lines, sorted.
    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init).sorted()
    }

    @Test func aContainerGetsExactlyItsLeasesNodesDirectoryAndSocketAndReadsAnInjectedKey() async throws {
        try requireVM()
        _ = try PodmanTestImage.ensure()
        let daemon = try Self.daemon()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let lease = try await client.createLease(CreateLeaseRequest(directories: [try daemon.directory()]))
        // Another session on the same host: none of its nodes may show up in ours.
        let other = try await client.createLease(CreateLeaseRequest(devices: ["keyboard", "gamepad"]))
        #expect(FileManager.default.fileExists(atPath: Self.specFile(lease.id)))
        let directory = try #require(lease.directories.first?.path)
        let session = try #require(lease.session)
        let keyboard = try #require(lease.devices.first { $0.role == .keyboard }?.nodes.first?.path)

        // What the container sees goes into the lease's directory, which is bound at its own
        // path, writable. Then it reads the keyboard, saying "ready" once the node is open (an
        // evdev reader gets only what comes after its open) or the reader has failed.
        let command = """
            cd \(directory) || exit 1; ls /dev/input > devices; busybox stat -c '%n %a %g' /dev/input/* > nodes; env > env; \
            ls /run/udev/data > records; test -S /run/fractal/input.sock && echo socket > socket; \
            head -c 96 \(keyboard) > keys & reader=$!; \
            while [ -d /proc/$reader ] && ! ls -l /proc/$reader/fd | busybox grep -q ' -> \(keyboard)$'; do sleep 0.05; done; \
            touch ready; wait $reader
            """
        let container = PodmanRun(["--device", Self.device(lease.id)], command)
        try await TaskVMTests.waitFor("the container to open its keyboard", timeout: .seconds(100), daemon: daemon) {
            FileManager.default.fileExists(atPath: directory + "/ready") || container.finished
        }
        let (status, output) = try daemon.devicectl(["inject", lease.id.rawValue, "keyboard", "--key", "KEY_A"])
        #expect(status == 0, "\(output)")
        let run = try await container.result()
        try #require(run.status == 0, "podman run: \(run.output)")

        #expect(try Self.lines(directory + "/devices") == Self.nodes(of: lease).map { ($0.path as NSString).lastPathComponent }.sorted())
        // Each node with the mode and group udevd gave it on the host, as Docker's are.
        let onHost = Self.nodes(of: lease).map { node -> String in
            var info = stat()
            _ = stat(node.path, &info)
            return "\(node.path) \(String(info.st_mode & 0o7777, radix: 8)) \(info.st_gid)"
        }.sorted()
        #expect(try Self.lines(directory + "/nodes") == onHost)
        let environment = try Self.lines(directory + "/env")
        #expect(environment.contains("FRACTAL_ID=\(lease.id.rawValue)"), "\(environment)")
        #expect(environment.contains("FRACTAL_SESSION_SOCKET=/run/fractal/input.sock"), "\(environment)")
        #expect(try String(contentsOfFile: directory + "/socket", encoding: .utf8) == "socket\n")
        let records = try FileManager.default.contentsOfDirectory(atPath: session.udevDirectory + "/data").sorted()
        let seenRecords = try Self.lines(directory + "/records")
        #expect(!records.isEmpty && seenRecords == records)

        let bytes = [UInt8](try Data(contentsOf: URL(filePath: directory + "/keys")))
        try #require(bytes.count == 96, "read \(bytes.count) bytes")
        // struct input_event: 16 bytes of time, then type, code (u16) and value (s32).
        func word(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        let events = stride(from: 0, to: 96, by: 24).map { "\(word($0 + 16)):\(word($0 + 18)):\(bytes[$0 + 20])" }
        #expect(events == ["1:30:1", "0:0:0", "1:30:0", "0:0:0"])

        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        _ = try await client.releaseLease(other.id.rawValue, keepDirectories: false)
        daemon.stop()
    }

    /// The device cgroup is what keeps a session off another's node: even with CAP_MKNOD (podman
    /// drops it by default; granted here to make the attacker stronger), a node made for another
    /// lease's numbers cannot be opened, while the container's own can.
    @Test func aContainerCannotOpenAnotherLeasesNodeAfterMknod() async throws {
        try requireVM()
        _ = try PodmanTestImage.ensure()
        let daemon = try Self.daemon()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let ours = try await client.createLease(CreateLeaseRequest(devices: ["keyboard"]))
        let victim = try await client.createLease(CreateLeaseRequest(devices: ["keyboard"]))
        let own = try #require(Self.nodes(of: ours).first { $0.path.contains("event") })
        let theirs = try #require(Self.nodes(of: victim).first { $0.path.contains("event") })

        let command = """
            (exec 3< \(own.path)) && echo own-opened; \
            busybox mknod /tmp/theirs c \(theirs.major) \(theirs.minor) && echo made; \
            head -c 24 /tmp/theirs > /dev/null; echo theirs-status=$?
            """
        let run = try await Podman.run(["--cap-add", "MKNOD", "--device", Self.device(ours.id)], command)
        #expect(run.status == 0, "podman run: \(run.output)")
        #expect(run.output.contains("own-opened"), "\(run.output)")
        #expect(run.output.contains("made"), "\(run.output)")
        #expect(run.output.contains("/tmp/theirs: Operation not permitted"), "\(run.output)")
        #expect(!run.output.contains("theirs-status=0"), "\(run.output)")

        _ = try await client.releaseLease(ours.id.rawValue, keepDirectories: false)
        _ = try await client.releaseLease(victim.id.rawValue, keepDirectories: false)
        daemon.stop()
    }

    @Test func afterReleaseTheSpecIsGoneAndPodmanRefusesTheName() async throws {
        try requireVM()
        _ = try PodmanTestImage.ensure()
        let daemon = try Self.daemon()
        let client = daemon.client()
        defer { Task { await client.shutdown() } }
        let lease = try await client.createLease(CreateLeaseRequest(devices: ["keyboard"]))
        let granted = try await Podman.run(["--device", Self.device(lease.id)], "ls /dev/input")
        #expect(granted.status == 0, "podman run while leased: \(granted.output)")

        _ = try await client.releaseLease(lease.id.rawValue, keepDirectories: false)
        #expect(!FileManager.default.fileExists(atPath: Self.specFile(lease.id)))
        let refused = try await Podman.run(["--device", Self.device(lease.id)], "ls /dev/input")
        #expect(refused.status != 0)
        #expect(refused.output.contains("unresolvable CDI devices \(Self.device(lease.id))"), "\(refused.output)")
        daemon.stop()
    }
}
