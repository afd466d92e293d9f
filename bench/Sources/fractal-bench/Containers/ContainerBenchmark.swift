import Agent
import DeviceManager
import FractalAPI
import FractalClient
import Foundation

/// Section 3: from `POST /v1/tasks` to a running container, against creating and starting the
/// same container straight through the Docker API, in the same run.
struct ContainerBenchmark {
    let sizes: Sizes
    let binaries: String
    let report: Report

    func run() async throws {
        let docker = DockerClient()
        do {
            try await measure(docker)
        } catch {
            try? await docker.shutdown()
            throw error
        }
        try await docker.shutdown()
    }

    /// A one-container ECS task: busybox `sleep 60` with the default devices and a session directory.
    static func definition(image: String, root: String) -> String {
        """
        {"taskDefinition": {
          "family": "bench",
          "volumes": [{"name": "session", "host": {"sourcePath": "\(root)/%%FRACTAL_ID_PLACEHOLDER%%"}}],
          "containerDefinitions": [{
            "name": "app", "image": "\(image)", "essential": true, "command": ["sleep", "60"],
            "mountPoints": [{"sourceVolume": "session", "containerPath": "/data"}],
            "dockerLabels": {"fractal.devices": "keyboard,mouse,tablet"}
          }]
        }}
        """
    }

    /// One direct sample, by step.
    private struct DirectTiming {
        var create: Double
        var startToRunning: Double
        var total: Double { create + startToRunning }
    }

    private func measure(_ docker: DockerClient) async throws {
        guard FileManager.default.fileExists(atPath: DockerClient.defaultSocketPath) else {
            throw BenchFailure("no dockerd socket at \(DockerClient.defaultSocketPath): boot the VM with --docker (scripts/bench does)")
        }
        try await docker.waitUntilReachable(attempts: 10)
        let image = try await BenchImage.ensure(docker)
        let daemon = try BenchDaemon(binaries: binaries)
        var daemonSamples: [Double] = []
        var daemonCPU = 0.0
        var direct: [DirectTiming] = []
        do {
            let definition = Self.definition(image: image, root: daemon.root)
            // Sample 0 of each is a warm-up (first container start, first task); the paths take turns.
            for index in 0...sizes.containerSamples {
                if index % 2 == 1 {
                    let timing = try await self.direct(daemon, docker, definition)
                    if index > 0 { direct.append(timing) }
                }
                let cpu = try ProcessUsage.cpuMilliseconds(pid: daemon.pid)
                let milliseconds = try await self.throughDaemon(daemon, docker, definition) {
                    daemonCPU += (try? ProcessUsage.cpuMilliseconds(pid: daemon.pid)).map { $0 - cpu } ?? 0
                }
                if index > 0 { daemonSamples.append(milliseconds) }
                if index % 2 == 0 {
                    let timing = try await self.direct(daemon, docker, definition)
                    if index > 0 { direct.append(timing) }
                }
            }
        } catch {
            await daemon.finish()
            throw error
        }
        // The warm-up task's line is the first: the steps are read from the timed ones.
        let logText = daemon.logText.split(separator: "\n").filter { $0.contains("; steps: ") }.dropFirst().joined(separator: "\n")
        await daemon.finish()

        let throughDaemon = Samples(daemonSamples)
        let directTotal = Samples(direct.map(\.total))
        let p50Ratio = Spread.medianBootstrap(Statistics.pairedRatios(throughDaemon.values, directTotal.values))
        let p99Ratio = Spread.percentileRatio(throughDaemon.values, directTotal.values, 99)
        var table = Table("Container start: request to a running container (busybox `sleep 60`, keyboard, mouse, tablet)", columns: [
            "path", "containers", "p50 ms", "p99 ms", "max ms", "vs direct, per round (p50 goal)", "p99 vs direct",
        ])
        table.add([
            "**fractal-agent: `POST /v1/tasks` → State.Running**", String(throughDaemon.count), Format.number(throughDaemon.p50),
            Format.number(throughDaemon.p99), Format.number(throughDaemon.maximum), Format.ratio(p50Ratio), Format.ratio(p99Ratio),
        ])
        table.add([
            "direct: Docker API create + start → State.Running", String(directTotal.count), Format.number(directTotal.p50),
            Format.number(directTotal.p99), Format.number(directTotal.maximum), "1.00×", "1.00×",
        ])
        table.notes = [
            "The daemon path is FractalClient.runTask with the ECS definition, then `docker inspect` polled every 20 ms until State.Running; it includes the lease (three devices, udev wait, session directory). The direct path creates and starts the very container the daemon would (TaskPlan's create body for the same devices and directory, leased untimed beforehand) with DockerClient, then polls the same way.",
            "Containers are removed with force afterwards (the daemon then ends the task and releases its lease) and `udevadm settle` runs, untimed. \(throughDaemon.count) rounds after one unreported warm-up sample each; a round is one start of each path, back to back, alternating which goes first. \"vs direct, per round\" is the median of per-round ratios, p99 vs direct the ratio of the two p99s (with \(throughDaemon.count) samples, the slowest), each with a 95 % bootstrap interval over rounds (pairs kept together): a round holds one start a path, so the interquartile range of its ratios would be the spread of single starts, not of the figure.",
            "Goal (issue 14): the daemon ≤ 1.10× direct at p50 and at p99.",
        ]
        report.record(Goal(name: "container start vs direct Docker API, per round (p50)", figure: p50Ratio, limit: 1.1))
        report.record(Goal(name: "container start p99 vs direct Docker API", figure: p99Ratio, limit: 1.1))
        report.print(table)

        // Where the daemon's time goes: the extra time over the direct path (paired by turn, which
        // cancels some of the host's noise), and each step of the daemon's own, from the line it
        // logs for every task it starts.
        let extra = Samples(zip(daemonSamples, direct).map { $0 - $1.total })
        let daemonSteps = Self.steps(inLog: logText)
        var steps = Table("Container start: where the daemon path's time goes (ms)", columns: ["step", "ms", "share of the daemon path's p50"])
        func step(_ name: String, _ value: Double?) {
            steps.add([name, Format.number(value), Format.fixed(ratio(value, throughDaemon.p50).map { $0 * 100 }, 0) + " %"])
        }
        step("Docker create, start, inspect until running (direct path, p50)", directTotal.p50)
        step("the daemon's extra time: daemon − direct, paired by round, median", extra.p50)
        step("the goal's budget for the daemon's extra time: 10 % of direct", directTotal.p50.map { $0 * 0.1 })
        for (name, values) in daemonSteps {
            step("daemon step (its log, median): \(name)", Samples(values).p50)
        }
        step("**daemon path, end to end (p50)**", throughDaemon.p50)
        steps.notes = [
            "The daemon's steps are medians over the \(daemonSamples.count) timed tasks of the line it logs for each (\"task … started: …; steps: …\"), each step timed from the end of the one before: the lease's devices exist before Docker's create (which names their nodes); Docker's start runs while udevd works on them; \"the rest of the lease\" is what was left of udevd's work, the session socket and the view when the start was done. The daemon path also has the HTTP request and answer, and the client's `docker inspect` polls.",
            "The daemon used \(Format.number(daemonCPU / Double(max(throughDaemon.count, 1)))) ms of CPU (user + system) per task, within the timed part.",
        ]
        report.print(steps)
    }

    /// Each step of the daemon's task starts, in order, with its times in ms, from the lines
    /// `task <id> (<family>) started: <containers>; steps: <name> <ms> ms, ...` of its log.
    static func steps(inLog log: String) -> [(String, [Double])] {
        var order: [String] = []
        var values: [String: [Double]] = [:]
        for line in log.split(separator: "\n") {
            guard let range = line.range(of: "; steps: ") else { continue }
            // "<name> <ms> ms" joined by ", ": a step's name may hold ", " itself, so each part
            // that does not end in a time belongs to the next.
            var name = ""
            for part in line[range.upperBound...].components(separatedBy: ", ") {
                let words = part.split(separator: " ")
                guard words.count >= 2, words.last == "ms", let ms = Double(words[words.count - 2]) else {
                    name += part + ", "
                    continue
                }
                name += words.dropLast(2).joined(separator: " ")
                if values[name] == nil { order.append(name) }
                values[name, default: []].append(ms)
                name = ""
            }
        }
        return order.map { ($0, values[$0] ?? []) }
    }

    private func throughDaemon(
        _ daemon: BenchDaemon, _ docker: DockerClient, _ definition: String, whenRunning: () -> Void
    ) async throws -> Double {
        let start = Monotonic.nanoseconds
        let task = try await daemon.client.runTask(definition: Data(definition.utf8))
        guard let container = task.containers.first?.id else { throw BenchFailure("task \(task.id) has no container") }
        try await Self.waitUntilRunning(docker, container)
        let milliseconds = Double(Monotonic.nanoseconds - start) / 1e6
        whenRunning()

        try await docker.removeContainer(container, force: true)
        // The daemon sees the container die and ends the task, releasing its lease.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if try await Self.gone({ _ = try await daemon.client.task(task.id.rawValue) }),
               try await Self.gone({ _ = try await daemon.client.lease(task.id.rawValue) }) {
                try Tool.settleUdev()
                return milliseconds
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchFailure("the daemon did not end task \(task.id) within 120 s of its container's removal")
    }

    /// Whether `lookup` fails with 404.
    private static func gone(_ lookup: () async throws -> Void) async throws -> Bool {
        do {
            try await lookup()
            return false
        } catch let error as FractalClientError where error.status == 404 {
            return true
        }
    }

    private func direct(_ daemon: BenchDaemon, _ docker: DockerClient, _ definition: String) async throws -> DirectTiming {
        // Set-up, untimed for this path: the same devices and directory, leased from the daemon.
        // What TaskRunner asks the lease manager for (the plan's templates do not depend on the ID).
        let policy = TaskPolicy(allowedRoots: [daemon.root])
        let requested = try TaskPlan(json: definition, id: FractalID.random(), policy: policy)
        let lease = try await daemon.client.createLease(CreateLeaseRequest(
            devices: requested.deviceRoles.map(\.rawValue), directories: requested.directories.map(\.request)))
        let plan = try TaskPlan(json: definition, id: lease.id, policy: policy)
        for planned in plan.directories where !lease.directories.contains(where: { $0.path == planned.hostPath }) {
            throw BenchFailure("lease \(lease.id) has no directory \(planned.hostPath)")
        }
        let creation = try plan.containerCreation(
            at: 0, grant: ContainerGrant(id: lease.id, nodes: lease.devices.flatMap(\.nodes).map { ContainerGrant.Node($0) }, session: lease.session))

        let start = Monotonic.nanoseconds
        let made = try await docker.createContainer(creation)
        let created = Monotonic.nanoseconds
        try await docker.startContainer(made.Id)
        try await Self.waitUntilRunning(docker, made.Id)
        let running = Monotonic.nanoseconds

        try await docker.removeContainer(made.Id, force: true)
        _ = try await daemon.client.releaseLease(lease.id.rawValue, keepDirectories: false)
        try Tool.settleUdev()
        return DirectTiming(create: Double(created - start) / 1e6, startToRunning: Double(running - created) / 1e6)
    }

    static func waitUntilRunning(_ docker: DockerClient, _ container: String) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let inspection = try await docker.inspectContainer(container) {
                if inspection.State.Running { return }
                if inspection.State.Status == "exited" || inspection.State.Status == "dead" {
                    throw BenchFailure("container \(container.prefix(12)) ended: \(inspection.State.Status) \(inspection.State.ExitCode) \(inspection.State.Error ?? "")")
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchFailure("container \(container.prefix(12)) did not run within 120 s")
    }
}
