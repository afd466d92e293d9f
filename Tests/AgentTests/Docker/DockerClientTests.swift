@testable import Agent
import Foundation
import Synchronization
import Testing

/// The Docker client's pure parts, and what it says when there is no dockerd (no daemon needed).
@Suite struct DockerClientTests {
    @Test func apiVersionNegotiation() throws {
        #expect(DockerAPIVersion("1.43") == DockerAPIVersion(1, 43))
        #expect(DockerAPIVersion("1.x") == nil && DockerAPIVersion("143") == nil)
        #expect(DockerAPIVersion(1, 9) < DockerAPIVersion(1, 41))
        #expect(DockerAPIVersion.negotiate(server: DockerAPIVersion(1, 45)) == DockerAPIVersion(1, 43))
        #expect(DockerAPIVersion.negotiate(server: DockerAPIVersion(1, 41)) == DockerAPIVersion(1, 41))
        #expect(DockerAPIVersion.negotiate(server: DockerAPIVersion(1, 40)) == nil)
        #expect(DockerAPIVersion.negotiate(server: DockerAPIVersion(1, 44), maximum: DockerAPIVersion(1, 42)) == DockerAPIVersion(1, 42))
    }

    @Test(arguments: [
        ("busybox", "busybox", "latest"),
        ("fractal-test/busybox:1.0", "fractal-test/busybox", "1.0"),
        ("registry.local:5000/app", "registry.local:5000/app", "latest"),
        ("registry.local:5000/app:v2", "registry.local:5000/app", "v2"),
        ("app@sha256:abc", "app", "sha256:abc"),
    ])
    func imageReferencesSplitForPull(reference: String, name: String, tag: String) {
        let split = DockerClient.splitReference(reference)
        #expect(split.name == name && split.tag == tag)
    }

    @Test func filtersAreDockersJSON() {
        #expect(DockerFilters.label("fractal.id").json == #"{"label":["fractal.id"]}"#)
        #expect(DockerFilters.containerEvents(["die", "destroy"]).json == #"{"event":["die","destroy"],"type":["container"]}"#)
        #expect(DockerClient.queryComponent(#"{"label":["a=b"]}"#) == "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D")
    }

    @Test func eventLinesDecode() throws {
        let line = #"{"status":"die","id":"abc","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"3","image":"busybox","name":"fractal-x-app","fractal.id":"x"}},"scope":"local","time":1700000000,"timeNano":1700000000000000000}"#
        let event = try #require(DockerEvent.decode(line: Array(line.utf8)))
        #expect(event.containerID == "abc" && event.action == "die" && event.exitCode == 3)
        #expect(event.labels == ["fractal.id": "x"])
        #expect(event.time == 1_700_000_000)
        #expect(DockerEvent.decode(line: Array("not json".utf8)) == nil)
    }

    @Test func dockerMessagesSurfaceWithStatusAndOperation() {
        let error = DockerClient.apiError(status: 409, body: Array(#"{"message":"Conflict. The container name is already in use"}"#.utf8), operation: "create container x")
        #expect(error == .api(operation: "create container x", status: 409, message: "Conflict. The container name is already in use"))
        #expect(error.description == "create container x: dockerd answered 409: Conflict. The container name is already in use")
        #expect(DockerClient.apiError(status: 500, body: Array("plain text\n".utf8), operation: "op").description == "op: dockerd answered 500: plain text")
    }

    @Test func streamedErrorsAreFound() throws {
        let body = #"""
        {"status":"Pulling from library/nope","id":"latest"}
        {"errorDetail":{"message":"pull access denied for nope"},"error":"pull access denied for nope"}
        """#
        #expect(throws: DockerError.streamed(operation: "pull", message: "pull access denied for nope")) {
            try DockerClient.checkProgress(Array(body.utf8), operation: "pull")
        }
        let fine = try DockerClient.checkProgress(Array(#"{"status":"sha256:0123"}"#.utf8), operation: "import")
        #expect(fine.last?.status == "sha256:0123")
    }

    @Test func imageUnavailableSaysHowToLoadIt() {
        let text = DockerError.imageUnavailable(image: "game:1", reason: "no registry").description
        #expect(text.contains("image 'game:1' is not present locally and could not be pulled"))
        #expect(text.contains("docker load"))
    }

    @Test func missingSocketIsUnreachable() async throws {
        let path = NSTemporaryDirectory() + "fractal-no-dockerd-\(UUID().uuidString).sock"
        let client = DockerClient(socketPath: path)
        await #expect(throws: DockerError.unreachable(socketPath: path, reason: "No such file or directory")) {
            try await client.ping()
        }
        let error = await #expect(throws: DockerError.self) { try await client.listContainers() }
        #expect(error?.description.contains("Start it (`systemctl start docker`, or run `dockerd`)") == true)
        try await client.shutdown()
    }

    @Test func retryGivesUpAfterTheAttemptsAndStopsOnOtherErrors() async throws {
        let calls = Atomic<Int>(0)
        await #expect(throws: DockerError.unreachable(socketPath: "/s", reason: "refused")) {
            try await DockerClient.retryingConnect(attempts: 4, initialDelay: .milliseconds(1)) { () async throws(DockerError) -> Int in
                calls.add(1, ordering: .relaxed)
                throw .unreachable(socketPath: "/s", reason: "refused")
            }
        }
        #expect(calls.load(ordering: .relaxed) == 4)

        calls.store(0, ordering: .relaxed)
        await #expect(throws: DockerError.api(operation: "x", status: 500, message: "m")) {
            try await DockerClient.retryingConnect(attempts: 4, initialDelay: .milliseconds(1)) { () async throws(DockerError) -> Int in
                calls.add(1, ordering: .relaxed)
                throw .api(operation: "x", status: 500, message: "m")
            }
        }
        #expect(calls.load(ordering: .relaxed) == 1)

        calls.store(0, ordering: .relaxed)
        let value = try await DockerClient.retryingConnect(attempts: 4, initialDelay: .milliseconds(1)) { () async throws(DockerError) -> Int in
            if calls.add(1, ordering: .relaxed).newValue < 3 { throw .unreachable(socketPath: "/s", reason: "refused") }
            return 7
        }
        #expect(value == 7 && calls.load(ordering: .relaxed) == 3)
    }
}
