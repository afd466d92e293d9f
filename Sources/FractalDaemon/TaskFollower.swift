import Agent
import Logging
import ServiceLifecycle

/// Follows Docker for the task runner: finds an earlier process's tasks again once the event
/// stream is open (so no container's end falls between the two), then ends tasks as their
/// containers die, until shutdown.
struct TaskFollower: Service {
    let tasks: TaskRunner
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await tasks.follow {
                do {
                    try await tasks.recover()
                } catch {
                    logger.warning("finding earlier tasks in Docker failed: \(error)")
                }
            }
        }
    }
}
