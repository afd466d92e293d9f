@testable import Agent
import Testing

@Suite struct TaskDefinitionParserTests {
    func refusal(_ json: String) -> TaskDefinitionError? {
        do {
            _ = try TaskDefinitionParser.parse(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesRegisterTaskDefinitionInput() throws {
        let definition = try TaskDefinitionParser.parse(Fixtures.register)
        #expect(definition.family == "web-and-sidecar")
        #expect(definition.networkMode == "host")
        #expect(definition.containerDefinitions.map(\.name) == ["web", "cache"])
        let web = definition.containerDefinitions[0]
        #expect(web.image == "nginx:1.25")
        #expect(web.command == ["nginx", "-g", "daemon off;"])
        #expect(web.environment == [KeyValuePair(name: "MODE", value: "production")])
        #expect(web.memory == 512 && web.memoryReservation == 256 && web.cpu == 512)
        #expect(web.portMappings == [PortMapping(containerPort: 80, hostPort: 80, protocol: "tcp")])
        #expect(web.mountPoints == [MountPoint(sourceVolume: "content", containerPath: "/usr/share/nginx/html", readOnly: true)])
        #expect(web.ulimits == [Ulimit(name: "nofile", softLimit: 1024, hardLimit: 4096)])
        #expect(web.dockerLabels?["team"] == "web")
        #expect(web.isEssential && !definition.containerDefinitions[1].isEssential)
        #expect(definition.volumes?.map(\.name) == ["content", "scratch"])
        #expect(definition.volumes?[0].host?.sourcePath == "/srv/www")
        #expect(definition.volumes?[1].host == nil)
    }

    @Test func parsesDescribeTaskDefinitionOutput() throws {
        let described = try TaskDefinitionParser.parse(Fixtures.described)
        let register = try TaskDefinitionParser.parse(Fixtures.register)
        #expect(described == register)
    }

    @Test func parsesAFractalTaskWithItsNulls() throws {
        let definition = try TaskDefinitionParser.parse(Fixtures.fractal)
        #expect(definition.family == "fractal-chrome")
        let container = try #require(definition.containerDefinitions.first)
        #expect(container.linuxParameters?.sharedMemorySize == 2048)
        #expect(container.linuxParameters?.tmpfs?.count == 2)
        #expect(container.linuxParameters?.capabilities?.drop == ["ALL"])
        #expect(container.linuxParameters?.initProcessEnabled == true)
        #expect(container.mountPoints?[1].containerPath == "/fractal/userConfigs:rshared")
        #expect(definition.volumes?.count == 4)
    }

    @Test func malformedJSONGivesLineAndColumn() throws {
        let text = "{\n  \"family\": \"x\",\n  \"containerDefinitions\": [\n    {\"name\": \"a\" \"image\": \"b\"}\n  ]\n}"
        let error = try #require(refusal(text))
        #expect(error == .malformedJSON(line: 4, column: 18, reason: "unexpected '\"'; expected ',' or '}'"))
        #expect(error.description.hasPrefix("task definition is not valid JSON: line 4, column 18:"))
    }

    @Test func mountPointNamingAMissingVolume() throws {
        let error = try #require(refusal(Fixtures.minimal(
            container: #""mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}, {"sourceVolume": "x", "containerPath": "/x"}]"#,
            volumes: #"[{"name": "data", "host": {"sourcePath": "/srv/data"}}]"#)))
        #expect(error.description == "containerDefinitions[0].mountPoints[1].sourceVolume names no volume 'x'")
    }

    @Test(arguments: [
        (#"{"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driverOpts": {"device": "/srv/%%FRACTAL_ID_PLACEHOLDER%%"}}}"#,
         "volumes[0].dockerVolumeConfiguration.driverOpts.device"),
        (#"{"name": "cache", "dockerVolumeConfiguration": {"labels": {"who": "%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%"}}}"#,
         "volumes[0].dockerVolumeConfiguration.labels.who"),
        (#"{"name": "cache", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/%%FRACTAL_ID_PLACEHOLDER%%"}}"#,
         "volumes[0].efsVolumeConfiguration.rootDirectory"),
        (#"{"name": "cache", "fsxWindowsFileServerVolumeConfiguration": {"rootDirectory": "%%FRACTAL_ID_PLACEHOLDER%%"}}"#,
         "volumes[0].fsxWindowsFileServerVolumeConfiguration.rootDirectory"),
    ])
    func placeholderOutsideHostSourcePath(volume: String, path: String) throws {
        let error = try #require(refusal(Fixtures.minimal(volumes: "[\(volume)]")))
        #expect(error == .misplacedPlaceholder(path: path, volume: "cache"))
        #expect(error.description.hasPrefix("volume 'cache': \(path) contains a FractalID placeholder; only volumes[].host.sourcePath takes"))
    }

    @Test func placeholderInAContainerField() throws {
        let error = try #require(refusal(Fixtures.minimal(container: #""environment": [{"name": "DIR", "value": "/x/%%FRACTAL_ID_PLACEHOLDER%%"}]"#)))
        #expect(error == .misplacedPlaceholder(path: "containerDefinitions[0].environment[0].value", volume: nil))
        #expect(error.description.contains("FRACTAL_ID environment variable"))
    }

    @Test(arguments: [
        (#""secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/t"}]"#, "containerDefinitions[0].secrets"),
        (#""links": ["db"]"#, "containerDefinitions[0].links"),
        (#""volumesFrom": [{"sourceContainer": "other"}]"#, "containerDefinitions[0].volumesFrom"),
        (#""repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:x"}"#, "containerDefinitions[0].repositoryCredentials"),
        (#""dependsOn": [{"containerName": "db", "condition": "START"}]"#, "containerDefinitions[0].dependsOn"),
        (#""privileged": true"#, "containerDefinitions[0].privileged"),
        (#""resourceRequirements": [{"type": "GPU", "value": "1"}]"#, "containerDefinitions[0].resourceRequirements"),
        (#""linuxParameters": {"maxSwap": 1024}"#, "containerDefinitions[0].linuxParameters.maxSwap"),
        (#""logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}"#, "containerDefinitions[0].logConfiguration.logDriver"),
        (#""networkMode": "awsvpc","#, "networkMode"),
        (#""pidMode": "host","#, "pidMode"),
    ])
    func unsupportedFeatureIsRefusedByName(field: String, path: String) throws {
        let json = field.hasSuffix(",") ? Fixtures.minimal(task: "\n  " + field) : Fixtures.minimal(container: field)
        let error = try #require(refusal(json))
        guard case .unsupported(let refusedPath, _) = error else {
            Issue.record("expected unsupported, got \(error)")
            return
        }
        #expect(refusedPath == path)
        #expect(error.description.hasPrefix("\(path) is not supported by fractal-agent"))
    }

    @Test func unsupportedVolumeKinds() throws {
        let efs = try #require(refusal(Fixtures.minimal(volumes: #"[{"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]"#)))
        #expect(efs.path == "volumes[0].efsVolumeConfiguration")
        let fsx = try #require(refusal(Fixtures.minimal(
            volumes: #"[{"name": "a", "host": {"sourcePath": "/a"}}, {"name": "b", "fsxWindowsFileServerVolumeConfiguration": {"fileSystemId": "fs-2"}}]"#)))
        #expect(fsx.description == "volumes[1].fsxWindowsFileServerVolumeConfiguration is not supported by fractal-agent: FSx for Windows needs AWS; use host.sourcePath")
    }

    @Test func nullEmptyAndFalseMeanAbsent() throws {
        let json = Fixtures.minimal(container: #""secrets": null, "links": [], "repositoryCredentials": {}, "privileged": false"#)
        #expect(refusal(json) == nil)
    }

    @Test func unknownDeviceRoleNamesTheLabelAndTheAllowedRoles() throws {
        let error = try #require(refusal(Fixtures.minimal(container: #""dockerLabels": {"fractal.devices": "keyboard,joystick"}"#)))
        #expect(error.description
            == "containerDefinitions[0].dockerLabels[\"fractal.devices\"] names unknown device role 'joystick'; allowed roles: keyboard, mouse, tablet, gamepad, touchscreen, pen, trackpad, dualsense, switch-pro (comma-separated), or none")
    }

    @Test func otherDevicesAreAccepted() throws {
        let json = Fixtures.minimal(container: #""linuxParameters": {"devices": [{"hostPath": "/dev/dri/renderD128", "permissions": ["read", "write"]}]}"#)
        #expect(refusal(json) == nil)
    }

    @Test(arguments: [
        (#""portMappings": [{"containerPort": 80}]"#, "", "containerDefinitions[0].portMappings",
         "need networkMode bridge or host"),
        (#""memory": 4"#, "", "containerDefinitions[0].memory", "at least 6"),
        (#""memory": 64, "memoryReservation": 128"#, "", "containerDefinitions[0].memoryReservation", "more than memory"),
        (#""memory": "lots""#, "", "containerDefinitions[0].memory", "should be an integer"),
        (#""environment": [{"name": "FRACTAL_ID", "value": "x"}]"#, "", "containerDefinitions[0].environment[0].name", "set by fractal-agent"),
        (#""dockerLabels": {"fractal.id": "spoof"}"#, "", "containerDefinitions[0].dockerLabels[\"fractal.id\"]", "set by fractal-agent"),
        (#""ulimits": [{"name": "files", "softLimit": 1, "hardLimit": 2}]"#, "", "containerDefinitions[0].ulimits[0].name", "not a ulimit"),
        (#""mountPoints": [{"sourceVolume": "v", "containerPath": "/a:rw"}]"#, "", "containerDefinitions[0].mountPoints[0].containerPath", "propagation"),
        (#""environment": [{"name": "A"}]"#, "", "containerDefinitions[0].environment[0].value", "is required"),
        ("", "\n  \"networkMode\": \"overlay\",", "networkMode", "not a network mode"),
        ("", "\n  \"memory\": \"a lot\",", "memory", "not a memory size"),
    ])
    func invalidValuesNameTheField(container: String, task: String, path: String, reason: String) throws {
        let json = Fixtures.minimal(container: container, volumes: #"[{"name": "v"}]"#, task: task)
        let error = try #require(refusal(json))
        #expect(error.path == path, "\(error)")
        #expect(error.description.contains(reason), "\(error)")
    }

    @Test func missingImageNamesTheField() throws {
        let error = try #require(refusal(#"{"family": "f", "containerDefinitions": [{"name": "a"}]}"#))
        #expect(error.description == "containerDefinitions[0].image is required")
    }

    @Test func dotDotInAHostPathIsRefused() throws {
        let error = try #require(refusal(Fixtures.minimal(volumes: #"[{"name": "home", "host": {"sourcePath": "/fractal/%%FRACTAL_ID_PLACEHOLDER%%/../etc"}}]"#)))
        #expect(error.path == "volumes[0].host.sourcePath")
        #expect(error.description.contains("'..' component"))
    }

    @Test func duplicateNamesAreRefused() throws {
        let volumes = try #require(refusal(Fixtures.minimal(volumes: #"[{"name": "a"}, {"name": "a"}]"#)))
        #expect(volumes.description == "volumes[1].name 'a' is also the name of volumes[0]")
        let containers = try #require(refusal(#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}, {"name": "a", "image": "j"}]}"#))
        #expect(containers.path == "containerDefinitions[1].name")
    }

    @Test func taskLevelLimitsNeedOneContainer() throws {
        let error = try #require(refusal(
            #"{"family": "f", "cpu": "1 vCPU", "containerDefinitions": [{"name": "a", "image": "i"}, {"name": "b", "image": "j"}]}"#))
        #expect(error.path == "cpu")
        guard case .unsupported = error else {
            Issue.record("expected unsupported, got \(error)")
            return
        }
    }

    @Test func topLevelMustBeAnObject() throws {
        #expect(refusal("[]")?.description == "(top level) must be a JSON object (a task definition)")
    }

    @Test func ecsSizes() {
        #expect(ECSSize("1024").cpuUnits == 1024)
        #expect(ECSSize("0.5 vCPU").cpuUnits == 512)
        #expect(ECSSize("2vcpu").cpuUnits == 2048)
        #expect(ECSSize("2 GB").mebibytes == 2048)
        #expect(ECSSize("512").mebibytes == 512)
        #expect(ECSSize("lots").mebibytes == nil)
        #expect(ECSSize("-1").cpuUnits == nil)
    }
}
