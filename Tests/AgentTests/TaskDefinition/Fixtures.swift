import Agent
import Foundation

/// Task definitions shaped like real ones, for the tests.
enum Fixtures {
    /// What the operator of the fixtures' host allows: their placeholder root, the two host
    /// paths they bind, the capability beyond Docker's defaults and the GPU they name.
    static let policy = TaskPolicy(
        allowedRoots: ["/fractal"], allowedHostPaths: ["/sys/fs/cgroup", "/srv/www"], allowedCapabilities: ["SYS_NICE"],
        allowedDevices: ["/dev/dri"])

    /// `RegisterTaskDefinition` input: two containers, a host volume, a Docker-managed volume.
    static let register = """
    {
      "family": "web-and-sidecar",
      "networkMode": "host",
      "requiresCompatibilities": ["EC2"],
      "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
      "containerDefinitions": [
        {
          "name": "web",
          "image": "nginx:1.25",
          "essential": true,
          "command": ["nginx", "-g", "daemon off;"],
          "environment": [{"name": "MODE", "value": "production"}],
          "memory": 512,
          "memoryReservation": 256,
          "cpu": 512,
          "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
          "mountPoints": [{"sourceVolume": "content", "containerPath": "/usr/share/nginx/html", "readOnly": true}],
          "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
          "dockerLabels": {"fractal.devices": "none", "team": "web"},
          "someFutureField": {"whatever": [1, 2, 3]}
        },
        {
          "name": "cache",
          "image": "redis:7",
          "essential": false,
          "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/data"}]
        }
      ],
      "volumes": [
        {"name": "content", "host": {"sourcePath": "/srv/www"}},
        {"name": "scratch"}
      ]
    }
    """

    /// The same definition as `aws ecs describe-task-definition` prints it.
    static var described: String {
        """
        {
          "taskDefinition": \(register.replacingOccurrences(of: "\"family\": \"web-and-sidecar\",",
              with: "\"family\": \"web-and-sidecar\", \"taskDefinitionArn\": \"arn:aws:ecs:us-east-1:123456789012:task-definition/web-and-sidecar:3\", \"revision\": 3, \"status\": \"ACTIVE\", \"compatibilities\": [\"EC2\"], \"registeredAt\": \"2024-05-01T12:00:00.000Z\",")),
          "tags": []
        }
        """
    }

    /// A Fractal-style streaming task: ECS's own output with its nulls, per-session placeholder
    /// volumes under both spellings, a `:rshared` mount, tmpfs and capabilities.
    static let fractal = """
    {
        "ipcMode": null,
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "containerDefinitions": [
            {
                "dnsSearchDomains": null,
                "environmentFiles": null,
                "logConfiguration": null,
                "entryPoint": null,
                "portMappings": [],
                "command": null,
                "linuxParameters": {
                    "capabilities": {
                        "add": ["SETPCAP", "MKNOD", "CHOWN", "KILL", "SETGID", "SETUID", "SYS_NICE"],
                        "drop": ["ALL"]
                    },
                    "sharedMemorySize": 2048,
                    "tmpfs": [
                        {"mountOptions": null, "containerPath": "/run", "size": 50},
                        {"mountOptions": ["noexec", "nosuid"], "containerPath": "/run/lock", "size": 50}
                    ],
                    "devices": null,
                    "maxSwap": null,
                    "swappiness": null,
                    "initProcessEnabled": true
                },
                "cpu": 0,
                "environment": [
                    {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "all"},
                    {"name": "SENTRY_ENV", "value": "production"}
                ],
                "resourceRequirements": null,
                "ulimits": null,
                "dnsServers": null,
                "mountPoints": [
                    {"readOnly": true, "containerPath": "/fractal/resourceMappings", "sourceVolume": "containerResourceMappings"},
                    {"readOnly": false, "containerPath": "/fractal/userConfigs:rshared", "sourceVolume": "userConfigs"},
                    {"readOnly": false, "containerPath": "/tmp/sockets", "sourceVolume": "sockets"},
                    {"readOnly": true, "containerPath": "/sys/fs/cgroup", "sourceVolume": "cgroup"}
                ],
                "workingDirectory": null,
                "secrets": null,
                "dockerSecurityOptions": [],
                "memory": 6144,
                "memoryReservation": null,
                "volumesFrom": [],
                "stopTimeout": null,
                "image": "ghcr.io/example/fractal-chrome:latest",
                "repositoryCredentials": null,
                "startTimeout": null,
                "firelensConfiguration": null,
                "dependsOn": null,
                "disableNetworking": null,
                "interactive": null,
                "healthCheck": null,
                "essential": true,
                "links": null,
                "hostname": null,
                "extraHosts": null,
                "pseudoTerminal": null,
                "user": null,
                "readonlyRootFilesystem": null,
                "dockerLabels": {"fractal.devices": "keyboard,mouse,tablet,gamepad"},
                "systemControls": null,
                "privileged": null,
                "name": "fractal-container"
            }
        ],
        "memory": null,
        "family": "fractal-chrome",
        "pidMode": null,
        "requiresCompatibilities": ["EC2"],
        "cpu": null,
        "inferenceAccelerators": [],
        "proxyConfiguration": null,
        "volumes": [
            {
                "fsxWindowsFileServerVolumeConfiguration": null,
                "efsVolumeConfiguration": null,
                "name": "cgroup",
                "host": {"sourcePath": "/sys/fs/cgroup"},
                "dockerVolumeConfiguration": null
            },
            {
                "fsxWindowsFileServerVolumeConfiguration": null,
                "efsVolumeConfiguration": null,
                "name": "containerResourceMappings",
                "host": {"sourcePath": "/fractal/%%FRACTAL_ID_PLACEHOLDER%%/containerResourceMappings"},
                "dockerVolumeConfiguration": null
            },
            {
                "name": "userConfigs",
                "host": {"sourcePath": "/fractal/%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%/userConfigs"}
            },
            {
                "name": "sockets",
                "host": {"sourcePath": "/fractal/temp/%%FRACTAL_ID_PLACEHOLDER%%/sockets/"}
            }
        ],
        "placementConstraints": [],
        "tags": []
    }
    """

    /// A one-container task for error tests; `container` and `volumes` are spliced in as JSON.
    static func minimal(container: String = "", volumes: String = "[]", task: String = "") -> String {
        """
        {
          "family": "minimal",\(task)
          "containerDefinitions": [
            {"name": "app", "image": "busybox"\(container.isEmpty ? "" : ", " + container)}
          ],
          "volumes": \(volumes)
        }
        """
    }
}
