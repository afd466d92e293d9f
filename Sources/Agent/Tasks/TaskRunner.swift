import DeviceManager
import Foundation
import FractalAPI
import FractalSystem
import Logging
import Synchronization

/// Runs ECS task definitions on Docker: each task gets a FractalID, a lease of its devices and
/// placeholder directories, and containers that see exactly those; when a container of the task
/// ends, the whole task ends and its lease is released.
public final class TaskRunner: Sendable {
    private let docker: DockerClient
    private let leases: LeaseManager
    /// Told which containers run for which lease, so hot-plugs reach them; none in tests without it.
    private let views: SessionViews?
    /// What the operator lets a task definition ask of the host.
    private let policy: TaskPolicy
    private let logger: Logger
    private let tasks = Mutex<[FractalID: TaskRecord]>([:])
    /// Tasks being started or stopped, so a container's end and a stop request don't race.
    private let busy = Mutex<Set<FractalID>>([])
    /// Whether the tasks of an earlier process have been looked for; requests wait for it briefly,
    /// so a restarted daemon never answers "no such task" for one it is about to find again.
    private let recovered = Mutex(false)

    public init(docker: DockerClient, leases: LeaseManager, views: SessionViews? = nil, policy: TaskPolicy, logger: Logger) {
        self.docker = docker
        self.leases = leases
        self.views = views
        self.policy = policy
        self.logger = logger
    }

    // MARK: Run

    /// Starts a task from its JSON definition; every failure undoes what was done before it.
    /// `owner` is the caller as the kernel reported it, recorded with the task's lease.
    public func run(definition json: Data, id requestedID: FractalID? = nil, owner: LeaseOwner? = nil) async throws(TaskError) -> TaskRecord {
        await waitUntilRecovered()
        var steps = StepTimes()
        let id = requestedID ?? FractalID.random()
        // Checked once, before anything is made: a refused definition leaves nothing behind.
        let plan: TaskPlan
        do { plan = try TaskPlan(json: json, id: id, policy: policy) } catch { throw .definition(error) }
        guard busy.withLock({ $0.insert(id).inserted }) else { throw .duplicate(id) }
        defer { _ = busy.withLock { $0.remove(id) } }
        if tasks.withLock({ $0[id] != nil }) { throw .duplicate(id) }

        // Everything that can be refused without side effects first: Docker there, images present.
        do {
            try await docker.waitUntilReachable()
            for container in plan.containers { _ = try await docker.ensureImage(container.image) }
        } catch {
            throw .docker(error)
        }
        steps.mark("the plan and Docker's images")

        let request = LeaseRequest(
            id: id, devices: plan.deviceRoles, directories: plan.directories.map(\.request), owner: owner, note: "task:\(plan.family)",
            policy: plan.policy, hotplug: plan.hotplugRoles)
        // Docker creates and starts the containers while udevd works on the lease's devices:
        // their nodes' paths and numbers are final as soon as the kernel made them, their group
        // and mode too (the lease gives them the rules' at once, before Docker copies them), and
        // Docker's start takes far longer than udevd. If udevd is the slower, a container's first
        // process finds no udev records and no session socket yet: the view announces each
        // device added once its records exist, as a hot-plug (`SessionViews.attach`), and the
        // socket appears when the lease is active (docs/SECURITY.md, "A task's start").
        let progress: LeaseManager.LeaseInProgress
        do {
            progress = try await leases.beginInTurn(request)
        } catch {
            throw .lease(error)
        }
        let staged = progress.lease
        steps.mark("the lease's devices")

        var created: [TaskRecord.Container] = []
        do throws(TaskError) {
            // The lease makes its directories in the order asked: each where the plan put it, or nothing is bound.
            for (index, planned) in plan.directories.enumerated()
            where !staged.directories.indices.contains(index) || staged.directories[index].path != planned.hostPath {
                throw TaskError.creation(.directoryNotProvisioned(volume: planned.volumeName))
            }
            do {
                for volume in plan.dockerVolumes where volume.mayCreate { try await docker.createVolume(volume) }
            } catch { throw TaskError.docker(error) }
            for (index, container) in plan.containers.enumerated() {
                let creation: ContainerCreation
                do {
                    creation = try plan.containerCreation(at: index, grant: plan.grant(at: index, lease: staged))
                } catch { throw TaskError.creation(error) }
                do {
                    let made = try await docker.createContainer(creation)
                    created.append(.init(name: container.name, id: made.Id, dockerName: creation.name))
                } catch { throw TaskError.docker(error) }
            }
        } catch {
            for container in created { try? await docker.removeContainer(container.id, force: true) }
            await leases.abandon(progress)
            throw error
        }
        steps.mark("Docker's create")

        let stagedRecord = TaskRecord(id: id, family: plan.family, containers: created, startedAt: Date(), lease: staged)
        // Known before the first start, so a container that ends at once still ends its task.
        tasks.withLock { $0[id] = stagedRecord }
        do throws(TaskError) {
            do {
                for container in created { try await docker.startContainer(container.id) }
            } catch {
                throw TaskError.docker(error)
            }
            steps.mark("Docker's start")
            await attachViews(of: id, containers: created)
            steps.mark("hot-plug attach")
        } catch {
            tasks.withLock { _ = $0.removeValue(forKey: id) }
            for container in created { try? await docker.removeContainer(container.id, force: true) }
            await leases.abandon(progress)
            throw error
        }
        let lease: Lease
        do {
            lease = try await leases.finish(progress)
        } catch {
            // The lease undid itself; its containers must not run on without their devices.
            tasks.withLock { _ = $0.removeValue(forKey: id) }
            views?.detach(id)
            for container in created { try? await docker.removeContainer(container.id, force: true) }
            throw .lease(error)
        }
        steps.mark("the rest of the lease (udev)")
        var record = stagedRecord
        record.lease = lease
        let running = tasks.withLock { tasks in
            guard tasks[id] != nil else { return false }
            tasks[id] = record
            return true
        }
        if !running {
            // A container ended before the lease was done, and its task with it; the lease was
            // still being made then, so it is released here.
            _ = try? await runBlocking { try self.leases.release(id) }
        }
        logger.info("task \(id) (\(plan.family)) started: \(created.map { "\($0.name)=\($0.id.prefix(12))" }.joined(separator: " ")); steps: \(steps.account)")
        return record
    }

    /// Lets the session view reach the started containers, for hot-plug. A container whose
    /// process cannot be found is logged: the task runs, but plugs will not reach it.
    private func attachViews(of id: FractalID, containers: [TaskRecord.Container]) async {
        guard let views else { return }
        for container in containers {
            do {
                guard let pid = try await docker.inspectContainer(container.id)?.State.Pid, pid > 0 else {
                    logger.warning("task \(id): container \(container.name) has no process (it ended already?); hot-plugs will not reach it")
                    continue
                }
                try views.attach(id, containerPID: Int32(pid))
            } catch {
                logger.warning("task \(id): attaching container \(container.name) for hot-plug: \(error)")
            }
        }
    }

    /// Whether the lease's devices are fixed by running containers: a hot-plug then needs a slot.
    public func hasContainers(_ id: FractalID) -> Bool {
        tasks.withLock { $0[id] != nil } || busy.withLock { $0.contains(id) }
    }

    // MARK: Queries and stop

    /// How many tasks run now.
    public var count: Int {
        tasks.withLock { $0.count }
    }

    public func list() async -> [TaskRecord] {
        await waitUntilRecovered()
        return tasks.withLock { Array($0.values) }.map(withCurrentLease).sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
    }

    public func task(_ id: FractalID) async throws(TaskError) -> TaskRecord {
        await waitUntilRecovered()
        guard let record = tasks.withLock({ $0[id] }) else { throw .notFound(id) }
        return withCurrentLease(record)
    }

    private func withCurrentLease(_ record: TaskRecord) -> TaskRecord {
        var record = record
        record.lease = try? leases.lease(record.id)
        return record
    }

    /// Stops and removes the task's containers and releases its lease.
    public func stop(_ id: FractalID) async throws(TaskError) -> TaskRecord {
        await waitUntilRecovered()
        guard let record = tasks.withLock({ $0.removeValue(forKey: id) }) else { throw .notFound(id) }
        await end(record, reason: "stopped on request")
        return record
    }

    /// Removes what is left of a task: containers (stopped first), then its lease.
    private func end(_ record: TaskRecord, reason: String) async {
        views?.detach(record.id)
        for container in record.containers {
            do {
                try await docker.stopContainer(container.id, timeout: 5)
            } catch {
                logger.debug("task \(record.id): stopping \(container.name): \(error)")
            }
            do {
                try await docker.removeContainer(container.id, force: true)
            } catch {
                logger.debug("task \(record.id): removing \(container.name): \(error)")
            }
        }
        do {
            _ = try await runBlocking { try self.leases.release(record.id) }
        } catch let error as LeaseError {
            switch error {
            case .notFound: break
            // Still being made: the task's start (`run`) releases it when it is done.
            case .busy: logger.debug("task \(record.id): its lease is still being made; released once it is")
            default: logger.error("task \(record.id): releasing its lease: \(error)")
            }
        } catch {
            logger.error("task \(record.id): releasing its lease: \(error)")
        }
        logger.info("task \(record.id) (\(record.family)) ended: \(reason)")
    }

    /// Waits, at most a few seconds (Docker may be down), for the first look at Docker's containers.
    private func waitUntilRecovered() async {
        let deadline = ContinuousClock.now + .seconds(10)
        while !recovered.withLock({ $0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Following Docker

    /// Finds the tasks of an earlier process from Docker's labels and this daemon's own leases,
    /// ends those whose containers stopped meanwhile, and releases task leases whose containers
    /// are gone. Containers labelled with a FractalID this daemon has no lease for are not its own.
    public func recover() async throws(TaskError) {
        defer { recovered.withLock { $0 = true } }
        let summaries: [ContainerSummary]
        do { summaries = try await docker.listContainers(.label(ContainerLabel.id), all: true) } catch { throw .docker(error) }
        var byID: [FractalID: [ContainerSummary]] = [:]
        for summary in summaries {
            guard let text = summary.Labels?[ContainerLabel.id], let id = try? FractalID(text),
                  (try? leases.lease(id)) != nil else { continue }
            byID[id, default: []].append(summary)
        }
        for (id, containers) in byID {
            let record = TaskRecord(
                id: id, family: containers.first?.Labels?[ContainerLabel.task] ?? "",
                containers: containers.map {
                    .init(name: $0.Labels?[ContainerLabel.container] ?? "", id: $0.Id,
                          dockerName: $0.Names?.first.map { String($0.drop { $0 == "/" }) } ?? "")
                },
                startedAt: Date(), lease: try? leases.lease(id))
            if containers.allSatisfy({ $0.State == "running" }) {
                tasks.withLock { $0[id] = record }
                logger.info("task \(id) (\(record.family)) found again: \(containers.count) container(s) running")
            } else {
                await end(record, reason: "a container stopped while fractal-agent was not running")
            }
        }
        // A task's lease whose containers vanished while no agent watched.
        for lease in leases.leases() where lease.note?.hasPrefix("task:") == true && byID[lease.id] == nil {
            _ = try? await runBlocking { try self.leases.release(lease.id) }
            logger.info("lease \(lease.id) of a task with no container left was released")
        }
    }

    /// Follows Docker's events until cancelled: a task container that dies ends its task at once.
    /// Reconnects with backoff when Docker goes away. `ready` is called once the stream is open.
    public func follow(ready: @Sendable () async -> Void = {}) async {
        var delay = Duration.milliseconds(100)
        var announced = false
        while !Task.isCancelled {
            do {
                let stream = try await docker.events(.containerEvents(["die", "destroy"]))
                if !announced {
                    announced = true
                    await ready()
                }
                delay = .milliseconds(100)
                for try await event in stream {
                    guard let text = event.attributes[ContainerLabel.id], let id = try? FractalID(text) else { continue }
                    guard let record = tasks.withLock({ $0.removeValue(forKey: id) }) else { continue }
                    let name = event.attributes[ContainerLabel.container] ?? event.actorID
                    await end(record, reason: "container \(name) \(event.action)" + (event.exitCode.map { " with status \($0)" } ?? ""))
                }
            } catch {
                if Task.isCancelled { return }
                // Docker is not there: nothing to wait for; what it runs is looked at once it is back.
                recovered.withLock { $0 = true }
                logger.warning("following Docker's events: \(error); retrying in \(delay)")
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }
}
