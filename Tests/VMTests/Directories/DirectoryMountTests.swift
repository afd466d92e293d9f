import DeviceManager
import Foundation
import Testing

/// Mounts need root and a real kernel: these run inside the project's VM (scripts/vm/run).
@Suite struct DirectoryMountTests {
    let id = try! FractalID("vm-session")
    let placeholder = Placeholder.fractalID

    func entry(at path: String) throws -> MountEntry {
        try #require(MountTable.current().entries.last { $0.mountPoint == path }, "nothing is mounted at \(path)")
    }

    /// Writes `count` bytes to a new file; returns the errno that stopped it, or 0.
    func fill(_ path: String, bytes count: Int) -> Int32 {
        let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
        var written = 0
        while written < count {
            let result = chunk.withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, count - written)) }
            guard result > 0 else { return errno }
            written += result
        }
        return 0
    }

    @Test func tmpfsIsCappedOwnedPrivateAndGoneOnRelease() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let request = DirectoryRequest(
            template: temporary.path + "/sessions/\(placeholder)/scratch", mode: 0o770, owner: 1234, group: 1235,
            mount: .tmpfs(sizeBytes: 1 << 20))
        let made = try provisioner.provision(request, for: id)
        #expect(made.mount == ProvisionedMount(kind: .tmpfs, target: made.path, source: nil))

        let mounted = try entry(at: made.path)
        #expect(mounted.fileSystemType == "tmpfs")
        #expect(mounted.source == "fractal-vm-session")
        #expect(mounted.options.contains("nosuid") && mounted.options.contains("nodev"))
        #expect(!mounted.options.contains("noexec") && mounted.options.contains("rw"))
        #expect(mounted.superOptions.contains("size=1024k"))
        #expect(mounted.superOptions.contains("mode=770"))
        #expect(mounted.superOptions.contains("uid=1234") && mounted.superOptions.contains("gid=1235"))
        #expect(mounted.propagation.isEmpty, "the mount should be private, not \(mounted.propagation)")
        let root = try #require(fileStatus(made.path))
        #expect(root.st_uid == 1234 && root.st_gid == 1235 && root.st_mode & 0o7777 == 0o770)
        #expect(try MountTable.current().mounts(under: temporary.path).map(\.mountPoint) == [made.path])

        // The cap holds: writing past it fails instead of filling the host.
        #expect(fill(made.path + "/big", bytes: 2 << 20) == ENOSPC)

        try provisioner.release(made)
        #expect(try !MountTable.current().isMountPoint(made.path))
        #expect(temporary.listing().isEmpty)
        try provisioner.release(made)
    }

    @Test func mountsArePrivateEvenUnderASharedMount() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        // A shared parent would otherwise make each new mount below it shared too.
        let root = try temporary.makeDirectory("shared-root")
        #expect(mount("shared-root", root, "tmpfs", 0, "size=1m") == 0)
        defer { umount2(root, Int32(MNT_DETACH)) }
        #expect(mount(nil, root, nil, UInt(MS_SHARED), nil) == 0)
        #expect(try entry(at: root).propagation.contains { $0.hasPrefix("shared:") })
        let source = try temporary.makeDirectory("source")

        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let tmpfs = try provisioner.provision(
            DirectoryRequest(template: root + "/t-\(placeholder)", mount: .tmpfs(sizeBytes: 65536)), for: id)
        let bind = try provisioner.provision(DirectoryRequest(template: root + "/b-\(placeholder)", mount: .bind(source: source)), for: id)
        #expect(try entry(at: tmpfs.path).propagation.isEmpty)
        #expect(try entry(at: bind.path).propagation.isEmpty)
        try provisioner.release(tmpfs)
        try provisioner.release(bind)
        #expect(try MountTable.current().mounts(under: root).map(\.mountPoint) == [root])
    }

    @Test func tmpfsHonoursReadOnlyNoExecAndTheOptOuts() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let readOnly = try provisioner.provision(
            DirectoryRequest(template: temporary.path + "/ro-\(placeholder)", mount: .tmpfs(sizeBytes: 65536), readOnly: true, noExec: true),
            for: id)
        let options = try entry(at: readOnly.path).options
        #expect(options.contains("ro") && options.contains("noexec") && options.contains("nosuid") && options.contains("nodev"))
        #expect(fill(readOnly.path + "/file", bytes: 1) == EROFS)

        let permissive = try provisioner.provision(
            DirectoryRequest(template: temporary.path + "/rw-\(placeholder)", mount: .tmpfs(sizeBytes: 65536), noSuid: false, noDev: false),
            for: id)
        let permissiveOptions = try entry(at: permissive.path).options
        #expect(!permissiveOptions.contains("nosuid") && !permissiveOptions.contains("nodev"))

        try provisioner.release(readOnly)
        try provisioner.release(permissive)
        #expect(temporary.listing().isEmpty)
    }

    @Test func readOnlyBindShowsTheSourceAndReleaseLeavesItAlone() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("root")
        let source = try temporary.makeDirectory("source")
        try temporary.write("source/hello", "hello")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let made = try provisioner.provision(
            DirectoryRequest(template: root + "/\(placeholder)/data", mount: .bind(source: source), readOnly: true, noExec: true),
            for: id)
        #expect(made.mount == ProvisionedMount(kind: .bind, target: made.path, source: source))

        let mounted = try entry(at: made.path)
        // The kernel ignores flags on the first bind call; these come from the remount.
        #expect(mounted.options.contains("ro") && mounted.options.contains("noexec"))
        #expect(mounted.options.contains("nosuid") && mounted.options.contains("nodev"))
        #expect(mounted.propagation.isEmpty)
        #expect(try String(contentsOfFile: made.path + "/hello", encoding: .utf8) == "hello")
        #expect(fill(made.path + "/new", bytes: 1) == EROFS)
        #expect(unlink(made.path + "/hello") == -1 && errno == EROFS)
        // Only this mount is read-only, not the source.
        #expect(fill(source + "/direct", bytes: 1) == 0)

        try provisioner.release(made)
        #expect(try !MountTable.current().isMountPoint(made.path))
        #expect(temporary.listing() == ["root", "source", "source/direct", "source/hello"])
        #expect(try String(contentsOfFile: source + "/hello", encoding: .utf8) == "hello")
    }

    @Test func writableBindFromAPerSessionSourceKeepsItsDataOnRelease() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("root")
        try temporary.makeDirectory("data/vm-session")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let request = try DirectoryRequest.parse(
            root + "/\(placeholder),bind=\(temporary.path)/data/\(placeholder),mode=0700")
        let made = try provisioner.provision(request, for: id)
        #expect(made.mount?.source == temporary.path + "/data/vm-session")
        #expect(fill(made.path + "/saved", bytes: 10) == 0)
        #expect(try !entry(at: made.path).options.contains("ro"))

        try provisioner.release(made)
        #expect(temporary.listing() == ["data", "data/vm-session", "data/vm-session/saved", "root"])
    }

    @Test func keepUnmountsButKeepsTheDirectory() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let source = try temporary.makeDirectory("source")
        let root = try temporary.makeDirectory("root")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let made = try provisioner.provision(
            DirectoryRequest(template: root + "/\(placeholder)", mode: 0o711, mount: .bind(source: source), keep: true), for: id)
        try provisioner.release(made)
        #expect(try !MountTable.current().isMountPoint(made.path))
        #expect(try #require(fileStatus(made.path)).st_mode & 0o7777 == 0o711)
        try provisioner.release(made, keep: false)
        #expect(temporary.listing() == ["root", "source"])
    }

    @Test func aBusyMountIsDetached() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let made = try provisioner.provision(
            DirectoryRequest(template: temporary.path + "/\(placeholder)", mount: .tmpfs(sizeBytes: 65536)), for: id)
        // An open file keeps the mount busy, as a session process that has not exited yet would.
        let fd = open(made.path + "/open", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        try provisioner.release(made)
        #expect(try !MountTable.current().isMountPoint(made.path))
        #expect(temporary.listing().isEmpty)
        // The detached filesystem lives on for the file still open in it.
        #expect(write(fd, "x", 1) == 1)
    }

    @Test func aForeignMountStopsTheRemovalAndKeepsItsFiles() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let made = try provisioner.provision(DirectoryRequest(template: temporary.path + "/\(placeholder)", mount: .none), for: id)
        let inner = try temporary.makeDirectory("vm-session/inner")
        #expect(mount("other", inner, "tmpfs", 0, "size=64k") == 0)
        try temporary.write("vm-session/inner/theirs")

        #expect(throws: DirectoryError.foreignMount(inner)) { try provisioner.release(made) }
        #expect(exists(inner + "/theirs"))

        #expect(umount2(inner, 0) == 0)
        try provisioner.release(made)
        #expect(temporary.listing().isEmpty)
    }

    @Test func aForeignMountOnTheDirectoryItselfIsRefused() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let made = try provisioner.provision(DirectoryRequest(template: temporary.path + "/\(placeholder)", mount: .none), for: id)
        #expect(mount("other", made.path, "tmpfs", 0, "size=64k") == 0)
        try temporary.write("vm-session/theirs")

        #expect(throws: DirectoryError.foreignMount(made.path)) { try provisioner.release(made) }
        #expect(exists(made.path + "/theirs"))
        #expect(umount2(made.path, 0) == 0)
        try provisioner.release(made)
        #expect(temporary.listing().isEmpty)
    }

    @Test func adoptingRemountsWhatARestartLost() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let request = DirectoryRequest(template: temporary.path + "/\(placeholder)", mount: .tmpfs(sizeBytes: 65536))
        let made = try provisioner.provision(request, for: id)
        // As after a reboot: the directory is there, its tmpfs is not.
        #expect(umount2(made.path, 0) == 0)
        #expect(throws: DirectoryError.alreadyExists(made.path)) { try provisioner.provision(request, for: id) }

        let adopted = try provisioner.provision(request, for: id, adopting: made)
        #expect(adopted == made)
        #expect(try MountTable.current().isMountPoint(made.path))
        // Adopting again with the mount in place changes nothing and mounts nothing more.
        _ = try provisioner.provision(request, for: id, adopting: adopted)
        #expect(try MountTable.current().mounts(under: made.path).count == 1)

        try provisioner.release(adopted)
        #expect(temporary.listing().isEmpty)
    }

    @Test func mountPointsWithSpacesAreFoundThroughTheEscapes() throws {
        try requireVM()
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("with space\tand tab")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let made = try provisioner.provision(
            DirectoryRequest(template: root + "/\(placeholder)", mount: .tmpfs(sizeBytes: 65536)), for: id)
        #expect(try MountTable.current().isMountPoint(made.path))
        try provisioner.release(made)
        #expect(try !MountTable.current().isMountPoint(made.path))
    }
}
