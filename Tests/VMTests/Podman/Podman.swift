import Foundation
import Synchronization

/// Debian's rootful podman in the VM (configured by scripts/vm/guest in the `--docker` boot:
/// storage on tmpfs, cgroupfs, no registries), run as a subprocess, as an operator would.
enum Podman {
    /// `podman ARGUMENTS...`, its status and its stdout and stderr together.
    static func call(_ arguments: [String], timeout: Duration = .seconds(120)) throws -> (status: Int32, output: String) {
        try runTool(["podman"] + arguments, timeout: timeout)
    }

    /// `podman run --rm --network none OPTIONS IMAGE sh -c COMMAND` to its end.
    static func run(_ options: [String], _ command: String, image: String = PodmanTestImage.reference) async throws
        -> (status: Int32, output: String)
    {
        try await PodmanRun(options, command, image: image).result()
    }
}

/// A `podman run --rm --network none OPTIONS IMAGE sh -c COMMAND` going on while the test acts on
/// the container. `--timeout` has conmon kill a container that hangs, so podman returns before
/// ``Podman/call(_:timeout:)``'s own limit, which could only kill podman itself.
final class PodmanRun: Sendable {
    private let outcome = Mutex<Result<(status: Int32, output: String), any Error>?>(nil)

    init(_ options: [String], _ command: String, image: String = PodmanTestImage.reference) {
        let arguments = ["run", "--rm", "--network", "none", "--timeout", "100"] + options + [image, "sh", "-c", command]
        // Blocks a GCD thread, never one of the cooperative pool's few (two CPUs in the VM).
        DispatchQueue.global().async {
            let result = Result { try Podman.call(arguments) }
            self.outcome.withLock { $0 = result }
        }
    }

    /// Whether podman has returned (the container ended, or never started).
    var finished: Bool { outcome.withLock { $0 != nil } }

    /// Podman's status and output, once it has returned.
    func result() async throws -> (status: Int32, output: String) {
        while true {
            if let outcome = outcome.withLock({ $0 }) { return try outcome.get() }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// The busybox image of ``DockerTestImage`` (the same tarball), imported into podman's own
/// storage with `podman import`: the VM reaches no registry.
enum PodmanTestImage {
    static let reference = "localhost/fractal-test/busybox:latest"

    /// One import per process, however many tests ask at once.
    private static let imported = Mutex(false)

    /// The image's reference, importing it first if podman does not have it.
    static func ensure() throws -> String {
        try imported.withLock { done in
            if done { return reference }
            if try Podman.call(["image", "exists", reference]).status != 0 {
                let tarball = FileManager.default.temporaryDirectory.appending(path: "fractal-podman-image-\(UUID().uuidString).tar")
                defer { try? FileManager.default.removeItem(at: tarball) }
                try Data(try DockerTestImage.rootFilesystemTarball()).write(to: tarball)
                // The first podman command of a boot also lays out its storage: a minute at most under emulation.
                let (status, output) = try Podman.call(["import", "--quiet", tarball.path, reference], timeout: .seconds(180))
                guard status == 0 else { throw VMTestFailure(description: "podman import \(reference): exit \(status): \(output)") }
            }
            done = true
            return reference
        }
    }
}
