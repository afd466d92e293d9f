import Agent
import DeviceManager
import FractalDaemon
import Testing

/// What the daemon's own configuration keeps out of every task's binds.
@Suite struct DaemonTaskPolicyTests {
    /// A task binding `source`, on a host whose operator allowed all of /run, /var/run, /etc and /srv.
    func plan(binding source: String, configuration: DaemonConfiguration = DaemonConfiguration()) throws -> TaskPlan {
        var configuration = configuration
        configuration.allowedHostPaths = ["/run", "/var/run", "/etc", "/srv"]
        let json = """
            {"family": "cdi", "containerDefinitions": [{"name": "app", "image": "busybox",
              "mountPoints": [{"sourceVolume": "v", "containerPath": "/x"}]}],
             "volumes": [{"name": "v", "host": {"sourcePath": "\(source)"}}]}
            """
        return try TaskPlan(json: json, id: try FractalID("cdi-policy"), policy: configuration.taskPolicy)
    }

    @Test func noTaskBindsACDISpecDirectoryUnderEitherSpelling() throws {
        var named = DaemonConfiguration()
        named.cdiDirectory = "/srv/cdi"
        // A spec written there grants devices to the next container that names it.
        for (source, configuration) in [
            ("/var/run/cdi", DaemonConfiguration()), ("/run/cdi", DaemonConfiguration()), ("/etc/cdi", DaemonConfiguration()),
            ("/etc", DaemonConfiguration()), ("/srv/cdi", named),
        ] {
            #expect(throws: TaskDefinitionError.self, "\(source)") { try plan(binding: source, configuration: configuration) }
        }
        _ = try plan(binding: "/etc/fractal-demo")
        _ = try plan(binding: "/srv/other", configuration: named)
    }
}
