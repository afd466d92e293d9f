import Agent
import Foundation
import Synchronization

/// A tiny image for tests, made on the spot because the VM reaches no registry: Debian's
/// statically linked busybox (`/bin/busybox` on the host root) with a few applet links,
/// imported as `fractal-test/busybox:latest` (what `docker import` does, through the API).
///
/// Other VM tests that need a container image call ``ensure()``.
enum DockerTestImage {
    static let reference = "fractal-test/busybox:latest"
    static let repository = "fractal-test/busybox"
    /// The applets linked into /bin, enough for test commands.
    static let applets = ["sh", "cat", "sleep", "od", "ls", "true", "false", "echo", "test", "id", "mkdir", "touch", "wc", "head", "env"]

    /// One import per process, however many tests ask at once.
    private static let importing = Mutex<Task<String, any Error>?>(nil)

    /// The image's reference, importing it first if dockerd does not have it.
    static func ensure() async throws -> String {
        let task = importing.withLock { task in
            if let task { return task }
            let made = Task { try await importIfMissing() }
            task = made
            return made
        }
        return try await task.value
    }

    private static func importIfMissing() async throws -> String {
        let client = DockerClient()
        do {
            if try await client.inspectImage(reference) == nil {
                try await client.importImage(tarball: try rootFilesystemTarball(), repository: repository, tag: "latest")
            }
            try await client.shutdown()
            return reference
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// A root filesystem tarball: /bin/busybox, its applet links, and the usual empty directories.
    static func rootFilesystemTarball() throws -> [UInt8] {
        let fileManager = FileManager.default
        let staging = fileManager.temporaryDirectory.appendingPathComponent("fractal-test-image-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(at: staging) }
        let root = staging.appendingPathComponent("rootfs")
        for directory in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
            try fileManager.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        let busybox = "/bin/busybox"
        guard fileManager.isExecutableFile(atPath: busybox) else {
            throw DockerVMTestFailure(description: "build test image: \(busybox) is missing; install Debian's busybox-static")
        }
        try fileManager.copyItem(atPath: busybox, toPath: root.appendingPathComponent("bin/busybox").path)
        for applet in applets {
            try fileManager.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(applet)").path, withDestinationPath: "busybox")
        }
        let tarball = staging.appendingPathComponent("rootfs.tar")
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["--numeric-owner", "--owner=0", "--group=0", "-C", root.path, "-cf", tarball.path, "."]
        try tar.run()
        tar.waitUntilExit()
        guard tar.terminationStatus == 0 else {
            throw DockerVMTestFailure(description: "build test image: tar exited with \(tar.terminationStatus)")
        }
        return [UInt8](try Data(contentsOf: tarball))
    }
}
