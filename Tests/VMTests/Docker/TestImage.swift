import Agent
import Foundation
import Synchronization

/// Tiny images for tests, made on the spot because the VM reaches no registry (what
/// `docker import` does, through the API):
///  - ``reference``: Debian's statically linked busybox (`/bin/busybox` on the host root) with
///    a few applet links;
///  - ``hostUserlandReference``: an empty root whose /bin, /lib, ... lead into /usr, for
///    containers that get the host's /usr bound read-only, and with it the very libinput, SDL2
///    and python3 a user's session image would carry.
///
/// Other VM tests that need a container image call ``ensure()`` or ``ensureHostUserland()``.
enum DockerTestImage {
    static let reference = "fractal-test/busybox:latest"
    static let hostUserlandReference = "fractal-test/host-userland:latest"
    /// The applets linked into /bin, enough for test commands.
    static let applets = ["sh", "cat", "sleep", "od", "ls", "true", "false", "echo", "test", "id", "mkdir", "touch", "wc", "head", "env"]

    /// One import per image per process, however many tests ask at once.
    private static let importing = Mutex<[String: Task<String, any Error>]>([:])

    /// The busybox image's reference, importing it first if dockerd does not have it.
    static func ensure() async throws -> String {
        try await ensure(reference, populate: populateBusybox)
    }

    /// The host-userland image's reference; containers must bind the host's /usr at /usr.
    static func ensureHostUserland() async throws -> String {
        try await ensure(hostUserlandReference, populate: populateHostUserland)
    }

    private static func ensure(_ reference: String, populate: @escaping @Sendable (URL) throws -> Void) async throws -> String {
        let task = importing.withLock { tasks in
            if let task = tasks[reference] { return task }
            let made = Task { try await importIfMissing(reference, populate: populate) }
            tasks[reference] = made
            return made
        }
        return try await task.value
    }

    private static func importIfMissing(_ reference: String, populate: (URL) throws -> Void) async throws -> String {
        let client = DockerClient()
        do {
            if try await client.inspectImage(reference) == nil {
                let (repository, tag) = reference.split(separator: ":").map(String.init).pair
                try await client.importImage(tarball: try rootFilesystemTarball(populate: populate), repository: repository, tag: tag)
            }
            try await client.shutdown()
            return reference
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// /bin/busybox and its applet links.
    private static func populateBusybox(_ root: URL) throws {
        let busybox = "/bin/busybox"
        guard FileManager.default.isExecutableFile(atPath: busybox) else {
            throw DockerVMTestFailure(description: "build test image: \(busybox) is missing; install Debian's busybox-static")
        }
        try FileManager.default.copyItem(atPath: busybox, toPath: root.appendingPathComponent("bin/busybox").path)
        for applet in applets {
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(applet)").path, withDestinationPath: "busybox")
        }
    }

    /// Debian's merged-/usr links, the loader's cache and the users, and an empty /usr to bind onto.
    private static func populateHostUserland(_ root: URL) throws {
        let fileManager = FileManager.default
        try fileManager.removeItem(at: root.appendingPathComponent("bin"))
        try fileManager.createDirectory(at: root.appendingPathComponent("usr"), withIntermediateDirectories: true)
        for link in ["bin", "sbin", "lib", "lib64"] {
            try fileManager.createSymbolicLink(atPath: root.appendingPathComponent(link).path, withDestinationPath: "usr/\(link)")
        }
        for file in ["/etc/ld.so.cache", "/etc/passwd", "/etc/group"] {
            try fileManager.copyItem(atPath: file, toPath: root.appendingPathComponent(String(file.dropFirst())).path)
        }
    }

    /// A root filesystem tarball: the usual empty directories plus what `populate` adds.
    static func rootFilesystemTarball(populate: (URL) throws -> Void = populateBusybox) throws -> [UInt8] {
        let fileManager = FileManager.default
        let staging = fileManager.temporaryDirectory.appendingPathComponent("fractal-test-image-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(at: staging) }
        let root = staging.appendingPathComponent("rootfs")
        for directory in ["bin", "dev", "etc", "proc", "sys", "tmp", "run"] {
            try fileManager.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        try populate(root)
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

extension Array where Element == String {
    /// `repository:tag` split in two.
    fileprivate var pair: (String, String) { (self[0], count > 1 ? self[1] : "latest") }
}
