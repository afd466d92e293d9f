import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import GRPCCore
import KubeletAPI
import KubeletPeer
import Synchronization
import Testing

/// `fractal-agent --kubelet` against the kubelet's protocol. No kubelet runs here, so the kubelet
/// is played by the test (`TestKubelet`) with the upstream protocol definitions: its Registration
/// and PodResources servers, and a DevicePlugin client of the daemon's endpoints. One of the CDI
/// names Allocate answers is run with podman (what else a container sees is PodmanCDIVMTests').
@Suite(.serialized) struct KubeletPluginVMTests {
    static let input = "fractal.dev/input"
    static let endpoint = "fractal-input.sock"

    /// Polls `condition` every 100 ms; fails naming `what` if it never holds (a bound, not a speed goal).
    static func eventually(_ what: String, within seconds: Int = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw VMTestFailure(description: "never happened within \(seconds) s: \(what)")
    }

    /// The gRPC error `call` fails with.
    static func rpcError(_ call: () async throws -> Void) async -> RPCError? {
        do {
            try await call()
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            return RPCError(code: .unknown, message: "\(error)")
        }
    }

    @Test func registersAllocatesReleasesAndReconcilesAgainstTheKubelet() async throws {
        try requireVM()
        let kubelet = try TestKubelet()
        try await kubelet.start()
        defer { kubelet.stopAll() }
        // Where podman reads specs (the VM's root is a throwaway overlay); specs already there are not ours.
        let cdi = PodmanCDIVMTests.cdiDirectory
        try FileManager.default.createDirectory(atPath: cdi, withIntermediateDirectories: true)
        let specsBefore = Set(try FileManager.default.contentsOfDirectory(atPath: cdi))
        let specs = CDISpecDirectory(path: cdi)
        let daemon = try DaemonProcess(extraArguments: [
            "--kubelet", "--kubelet-dir", kubelet.directory, "--pod-resources-socket", kubelet.podResourcesSocket,
            "--kube-poll", "1", "--kube-slots", "4", "--cdi-dir", cdi,
            // Three sessions fill the host: the fourth slot is then reported unhealthy.
            "--max-leases", "3",
        ])
        let client = daemon.client()
        defer { Task { await client.shutdown() } }

        // Registration: each pool on its own endpoint, with the options it serves.
        try await Self.eventually("both pools registered\n\(daemon.logText)") {
            kubelet.registered(Self.input) >= 1 && kubelet.registered("fractal.dev/input-gamepad") >= 1
        }
        let registration = try #require(kubelet.registrations.withLock { $0.first { $0.resourceName == Self.input } })
        #expect(registration.version == "v1beta1" && registration.endpoint == Self.endpoint)
        #expect(!registration.options.preStartRequired && !registration.options.getPreferredAllocationAvailable)

        // The kubelet restarts: its socket is new and ours are gone; the plugin serves and registers again.
        let first = kubelet.registered(Self.input)
        try await kubelet.restartRegistration()
        try await Self.eventually("registered again after the kubelet's socket was made anew\n\(daemon.logText)") {
            kubelet.registered(Self.input) > first && access(kubelet.directory + "/" + Self.endpoint, F_OK) == 0
        }

        // ListAndWatch: every slot, healthy.
        let devices = try await kubelet.firstList(Self.endpoint)
        #expect(devices.map(\.id) == ["input-0", "input-1", "input-2", "input-3"])
        #expect(devices.allSatisfy { $0.health == "Healthy" })

        // A kubelet's watch stays open: it hears each change of health.
        let watched = WatchedLists()
        let watching = Task { [kubelet] in
            try await kubelet.withPlugin(Self.endpoint) { plugin in
                try await plugin.listAndWatch(V1beta1_Empty()) { response in
                    for try await message in response.messages { watched.lists.withLock { $0.append(message.devices) } }
                }
            }
        }
        defer { watching.cancel() }
        func lastHealth() -> [String] { watched.lists.withLock { $0.last ?? [] }.map(\.health) }
        try await Self.eventually("the watch's first list") { lastHealth().count == 4 }

        // Allocate 3 slots: 3 active leases, each answered with its CDI name and the same grant spelled out.
        let answer = try await kubelet.allocate(Self.endpoint, [["input-0"], ["input-1"], ["input-2"]])
        // Their pods run at once: a slot no pod lists is released after one poll interval.
        kubelet.pods.withLock {
            $0 = ["a": (Self.input, ["input-0"]), "b": (Self.input, ["input-1"]), "c": (Self.input, ["input-2"])]
        }
        #expect(answer.containerResponses.count == 3)
        var ids: [FractalID] = []
        for response in answer.containerResponses {
            let id = try FractalID(try #require(response.envs["FRACTAL_ID"]))
            ids.append(id)
            #expect(response.cdiDevices.map(\.name) == ["fractal.dev/input=\(id)"])
            #expect(response.devices.count >= 3 && response.devices.allSatisfy { $0.permissions == "rwm" })
            // Each node by the lease's own link (a replayed eventN could be another lease's node), resolving to the node inside.
            for device in response.devices {
                #expect(device.hostPath.hasPrefix("/dev/input/by-fractal-id/\(id)/"), "\(device.hostPath)")
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: device.hostPath)
                #expect((target as NSString).lastPathComponent == (device.containerPath as NSString).lastPathComponent, "\(device)")
            }
            #expect(response.mounts.contains { $0.containerPath == "/run/fractal" && $0.readOnly })
            #expect(access(specs.file(of: id), F_OK) == 0, "no CDI spec for \(id)")
        }
        let leases = try await client.leases()
        for (index, id) in ids.enumerated() {
            let lease = try #require(leases.first { $0.id == id })
            #expect(lease.state == .active && lease.note == "kubelet fractal.dev/input input-\(index)")
            #expect(lease.devices.map(\.role) == [.keyboard, .mouse, .tablet])
        }

        // The answered names are ones podman runs: a container given one sees exactly that lease's nodes.
        _ = try PodmanTestImage.ensure()
        let name = try #require(answer.containerResponses[1].cdiDevices.first?.name)
        let run = try await Podman.run(["--device", name], "ls /dev/input | while read node; do echo \"input: $node\"; done")
        try #require(run.status == 0, "podman run --device \(name): \(run.output)")
        let seen = run.output.split(separator: "\n").filter { $0.hasPrefix("input: ") }.map { String($0.dropFirst(7)) }.sorted()
        let granted = try #require(leases.first { $0.id == ids[1] }).devices.flatMap(\.nodes)
        #expect(seen == granted.map { ($0.path as NSString).lastPathComponent }.sorted(), "\(run.output)")

        // At the lease limit the free slot is unhealthy; the allocated ones stay healthy.
        try await Self.eventually("the free slot reported unhealthy at the lease limit") {
            lastHealth() == ["Healthy", "Healthy", "Healthy", "Unhealthy"]
        }

        // Unknown and allocated slots are refused, naming them.
        let unknown = await Self.rpcError { _ = try await kubelet.allocate(Self.endpoint, [["input-9"]]) }
        #expect(unknown?.code == .invalidArgument && unknown?.message.contains("input-9") == true, "\(String(describing: unknown))")
        let taken = await Self.rpcError { _ = try await kubelet.allocate(Self.endpoint, [["input-1"]]) }
        #expect(taken?.code == .failedPrecondition && taken?.message.contains("input-1") == true, "\(String(describing: taken))")
        #expect(try await client.leases().count == 3)

        // While the pods run their leases stay; then the third ends: its lease is released within a few polls.
        try await Task.sleep(for: .seconds(3))
        #expect(try await client.leases().count == 3, "a lease was released while its pod held it")
        kubelet.pods.withLock { _ = $0.removeValue(forKey: "c") }
        try await Self.eventually("the lease of the ended pod released\n\(daemon.logText)", within: 30) {
            try await !client.leases().contains { $0.id == ids[2] }
        }
        #expect(access(specs.file(of: ids[2]), F_OK) != 0)
        try await Self.eventually("every slot healthy again below the limit") { lastHealth() == Array(repeating: "Healthy", count: 4) }
        watching.cancel()

        // Killed and started again, with two pods still running: those two stay (made again under
        // the same FractalIDs, since their devices ended with the process), nothing else is left.
        let beforeRestart = kubelet.registered(Self.input)
        daemon.stop(signal: SIGKILL)
        try daemon.start()
        let kept = Set(ids[0...1])
        try await Self.eventually("the two held leases active again\n\(daemon.logText)") {
            let leases = try await client.leases()
            return Set(leases.map(\.id)) == kept && leases.allSatisfy { $0.state == .active }
        }
        try await Self.eventually("registered by the new process\n\(daemon.logText)") { kubelet.registered(Self.input) > beforeRestart }
        let specFiles = try FileManager.default.contentsOfDirectory(atPath: cdi).filter { $0.hasSuffix(".json") && !specsBefore.contains($0) }.sorted()
        #expect(specFiles == kept.map { URL(filePath: specs.file(of: $0)).lastPathComponent }.sorted())
        for id in ids {
            let link = "/dev/input/by-fractal-id/\(id)"
            #expect((access(link, F_OK) == 0) == kept.contains(id), "\(link)")
        }
        // The restarted plugin knows its slots: the kept ones are still taken, the released one is free.
        let again = await Self.rpcError { _ = try await kubelet.allocate(Self.endpoint, [["input-0"]]) }
        #expect(again?.code == .failedPrecondition, "\(String(describing: again))")
        let after = try await kubelet.firstList(Self.endpoint)
        #expect(after.map(\.id) == ["input-0", "input-1", "input-2", "input-3"])

        for id in kept { _ = try await client.releaseLease(id.rawValue, keepDirectories: false) }
        daemon.stop()
    }
}

/// What a ListAndWatch stream sent, in order.
final class WatchedLists: Sendable {
    let lists = Mutex<[[V1beta1_Device]]>([])
}
