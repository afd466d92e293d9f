import Agent
import Foundation

/// A tiny image made on the spot, because the VM reaches no registry: Debian's statically linked
/// busybox from the host root with the applets a `sleep 60` task needs, imported through the
/// Docker API as `docker import` would (the idea of the VM tests' busybox image).
enum BenchImage {
    static let repository = "fractal-bench/busybox"
    static let reference = repository + ":latest"
    static let applets = ["sh", "sleep", "true"]

    /// The image's reference, importing it first if dockerd does not have it.
    static func ensure(_ docker: DockerClient) async throws -> String {
        if try await docker.inspectImage(reference) == nil {
            try await docker.importImage(tarball: try rootFilesystemTarball(), repository: repository, tag: "latest")
        }
        return reference
    }

    /// /bin/busybox, its applet links, and the usual empty directories, as a tarball.
    static func rootFilesystemTarball() throws -> [UInt8] {
        let fileManager = FileManager.default
        let staging = fileManager.temporaryDirectory.appendingPathComponent("fractal-bench-image-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(at: staging) }
        let root = staging.appendingPathComponent("rootfs")
        for directory in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
            try fileManager.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        let busybox = "/bin/busybox"
        guard fileManager.isExecutableFile(atPath: busybox) else {
            throw BenchFailure("\(busybox) is missing; install Debian's busybox-static (scripts/setup-host does)")
        }
        try fileManager.copyItem(atPath: busybox, toPath: root.appendingPathComponent("bin/busybox").path)
        for applet in applets {
            try fileManager.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(applet)").path, withDestinationPath: "busybox")
        }
        let tarball = staging.appendingPathComponent("rootfs.tar").path
        let (status, output) = try Tool.run(["/bin/tar", "--numeric-owner", "--owner=0", "--group=0", "-C", root.path, "-cf", tarball, "."])
        guard status == 0 else { throw BenchFailure("tar: \(output)") }
        return [UInt8](try Data(contentsOf: URL(filePath: tarball)))
    }
}
