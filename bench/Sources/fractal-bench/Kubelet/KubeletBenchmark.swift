import DeviceManager
import FractalAPI
import FractalClient
import Foundation
import GRPCCore
import Glibc
import KubeletAPI
import KubeletPeer

/// Section `kubelet`: a pod's session through `fractal-agent --kubelet`, from the kubelet's
/// `Allocate` to its answer (the lease active, its CDI spec on disk), beside a plain lease through
/// the API, in paired rounds against one daemon. No goal: issue 12 asks for the two side by side.
struct KubeletBenchmark {
    let sizes: Sizes
    let binaries: String
    let report: Report

    static let resource = "fractal.dev/input"
    static let endpoint = "fractal-input.sock"
    /// Slots advertised; each round takes the next, since a slot is free again only at the poll
    /// after its lease is gone, and a poll keeps a lease younger than one interval.
    static let slots = 64

    func run() async throws {
        guard Tool.udevRunning else { throw BenchFailure("no udevd runs: both paths wait for it") }
        // The test kubelet: PodResources lists no pod, Registration records the plugin's.
        let kubelet = try TestKubelet()
        try await kubelet.start()
        defer { kubelet.stopAll() }
        let cdi = FileManager.default.temporaryDirectory.appending(path: "fractal-bench-cdi-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: cdi, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: cdi) }
        let daemon = try BenchDaemon(binaries: binaries, extraArguments: [
            "--kubelet", "--kubelet-dir", kubelet.directory, "--pod-resources-socket", kubelet.podResourcesSocket,
            "--kube-poll", "1", "--kube-slots", String(Self.slots), "--cdi-dir", cdi,
        ])
        do {
            try await measure(daemon, kubelet, specs: CDISpecDirectory(path: cdi))
        } catch {
            await daemon.finish()
            throw error
        }
        await daemon.finish()
    }

    private func measure(_ daemon: BenchDaemon, _ kubelet: TestKubelet, specs: CDISpecDirectory) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while kubelet.registered(Self.resource) == 0 || access(kubelet.directory + "/" + Self.endpoint, F_OK) != 0 {
            guard ContinuousClock.now < deadline else { throw BenchFailure("the plugin did not register within 120 s: \(daemon.logText)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        // One connection for every Allocate, as the kubelet keeps one per plugin (the API client pools its own).
        let (allocated, leased) = try await kubelet.withPlugin(Self.endpoint) { plugin in
            var slot = 0
            func allocate() async throws -> Double {
                defer { slot += 1 }
                return try await Self.allocate(plugin, slot: "input-\(slot % Self.slots)", daemon: daemon, specs: specs)
            }
            // Warm-up: the first calls open connections and fill caches.
            for _ in 0..<3 {
                _ = try await allocate()
                _ = try await Self.lease(daemon, specs: specs)
            }
            var allocated: [Double] = []
            var leased: [Double] = []
            // Back to back, alternating which goes first, so the host's other work falls on both alike.
            for round in 0..<sizes.leaseSamples {
                if round % 2 == 1 { leased.append(try await Self.lease(daemon, specs: specs)) }
                allocated.append(try await allocate())
                if round % 2 == 0 { leased.append(try await Self.lease(daemon, specs: specs)) }
            }
            return (allocated, leased)
        }
        let allocate = Samples(allocated), lease = Samples(leased)
        let p50Ratio = Spread.medianBootstrap(Statistics.pairedRatios(allocate.values, lease.values))
        let p99Ratio = Spread.percentileRatio(allocate.values, lease.values, 99)

        var table = Table("Kubelet: Allocate to CDI spec on disk, beside a plain lease (keyboard, mouse, tablet)", columns: [
            "path", "leases", "p50 ms", "p99 ms", "vs API lease, per round", "p99 vs API lease",
        ])
        table.add([
            "**kubelet: gRPC `Allocate` of one `\(Self.resource)` slot → answer, CDI spec on disk**", String(allocate.count),
            Format.number(allocate.p50), Format.number(allocate.p99), Format.ratio(p50Ratio), Format.ratio(p99Ratio),
        ])
        table.add([
            "API: `POST /v1/leases` → 201, same devices", String(lease.count), Format.number(lease.p50), Format.number(lease.p99), "1.00×", "1.00×",
        ])
        table.notes = [
            "One daemon started with `--kubelet --kube-poll 1 --kube-slots \(Self.slots) --cdi-dir`, a test kubelet (KubeletPeer: the upstream v1beta1 and PodResources protos) serving Registration and an empty PodResources list. Allocate is timed on one gRPC connection kept open, from the call to the decoded answer; its CDI name's spec file is then checked in the daemon's --cdi-dir (untimed). The API lease is FractalClient.createLease with the default devices, timed to the decoded 201; its spec is checked too. Both leases wait for udevd and write a CDI spec before answering.",
            "\(allocate.count) rounds after 3 unreported warm-up samples each; a round is one Allocate and one API lease, back to back, alternating which goes first. After each, the lease is released with `DELETE /v1/leases/{id}` and `udevadm settle` runs (untimed); the plugin frees the slot at its next poll, so each Allocate takes the next of \(Self.slots) slots. Ratios as in the lease section: median of per-round ratios and ratio of the p99s, each with a 95 % bootstrap interval. No goal.",
        ]
        report.print(table)
    }

    /// One Allocate of `slot`, timed to the answer; then its spec checked and its lease released (untimed).
    private static func allocate(
        _ plugin: V1beta1_DevicePlugin.Client<some ClientTransport>, slot: String, daemon: BenchDaemon, specs: CDISpecDirectory
    ) async throws -> Double {
        var request = V1beta1_AllocateRequest()
        var container = V1beta1_ContainerAllocateRequest()
        container.devicesIds = [slot]
        request.containerRequests = [container]
        let (answer, milliseconds) = try await Monotonic.milliseconds { try await plugin.allocate(request) }
        guard let name = answer.containerResponses.first?.cdiDevices.first?.name,
              let id = try? FractalID(String(name.dropFirst(resource.count + 1))), name == "\(resource)=\(id)" else {
            throw BenchFailure("Allocate of \(slot) answered no CDI name of \(resource): \(answer)")
        }
        try await release(id, daemon: daemon, specs: specs, path: "Allocate of \(slot)")
        return milliseconds
    }

    /// One lease through the API, timed to the 201; then its spec checked and the lease released (untimed).
    private static func lease(_ daemon: BenchDaemon, specs: CDISpecDirectory) async throws -> Double {
        let (lease, milliseconds) = try await Monotonic.milliseconds { try await daemon.client.createLease(CreateLeaseRequest()) }
        guard lease.udev == .initialized else {
            throw BenchFailure("lease \(lease.id) came back with udev \(lease.udev?.rawValue ?? "unknown"), not initialized")
        }
        try await release(lease.id, daemon: daemon, specs: specs, path: "POST /v1/leases")
        return milliseconds
    }

    /// Fails unless `id`'s spec is on disk; then releases it and lets udevd finish.
    private static func release(_ id: FractalID, daemon: BenchDaemon, specs: CDISpecDirectory, path: String) async throws {
        guard access(specs.file(of: id), F_OK) == 0 else {
            throw BenchFailure("\(path) answered lease \(id) with no CDI spec at \(specs.file(of: id)): \(daemon.logText)")
        }
        _ = try await daemon.client.releaseLease(id.rawValue, keepDirectories: false)
        try Tool.settleUdev()
    }
}
