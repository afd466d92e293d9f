import DeviceManager
import Foundation
import Testing

@Suite struct DirectoryProvisionerTests {
    let id = try! FractalID("session-1")
    let placeholder = Placeholder.fractalID

    // MARK: Allowed roots

    @Test func refusesUnusableRoots() throws {
        let temporary = try TemporaryDirectory()
        let file = try temporary.write("file")
        let real = try temporary.makeDirectory("real")
        let link = temporary.path + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        try temporary.makeDirectory("real/below")
        for root in ["relative", temporary.path + "/missing", file, link, link + "/below", temporary.path + "/../tmp"] {
            #expect {
                try DirectoryProvisioner(allowedRoots: [root])
            } throws: { error in
                guard case .invalidRoot(let text, _) = error as? DirectoryError else { return false }
                return text == root
            }
        }
        #expect(throws: DirectoryError.self) { try DirectoryProvisioner(allowedRoots: []) }
    }

    @Test func normalizesRoots() throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path + "//"])
        #expect(provisioner.allowedRoots == [temporary.path])
    }

    // MARK: Lexical refusals

    @Test func refusesTemplatesLexically() throws {
        let temporary = try TemporaryDirectory()
        let root = temporary.path
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        #expect(throws: DirectoryError.noPlaceholder(root + "/shared")) {
            try provisioner.provision(DirectoryRequest(template: root + "/shared", mount: .none), for: id)
        }
        #expect(throws: DirectoryError.notAbsolute("tmp/\(placeholder)")) {
            try provisioner.provision(DirectoryRequest(template: "tmp/\(placeholder)", mount: .none), for: id)
        }
        let climbing = root + "/../etc/\(placeholder)"
        #expect(throws: DirectoryError.dotDotComponent(climbing)) {
            try provisioner.provision(DirectoryRequest(template: climbing, mount: .none), for: id)
        }
        #expect(throws: DirectoryError.outsideAllowedRoots("/etc/session-1", roots: [root])) {
            try provisioner.provision(DirectoryRequest(template: "/etc/\(placeholder)", mount: .none), for: id)
        }
        // A sibling whose name merely starts with the root's is not below it.
        #expect(throws: DirectoryError.outsideAllowedRoots(root + "x/session-1", roots: [root])) {
            try provisioner.provision(DirectoryRequest(template: root + "x/\(placeholder)", mount: .none), for: id)
        }
        #expect(temporary.listing().isEmpty)
    }

    @Test func refusesTheRootItself() throws {
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("session-1")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        #expect(throws: DirectoryError.outsideAllowedRoots(root, roots: [root])) {
            try provisioner.path(for: temporary.path + "/\(placeholder)", id: id)
        }
    }

    @Test func choosesTheDeepestRoot() throws {
        let temporary = try TemporaryDirectory()
        let inner = try temporary.makeDirectory("inner")
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path, inner])
        let made = try provisioner.provision(DirectoryRequest(template: inner + "/\(placeholder)", mount: .none), for: id)
        #expect(made.root == inner)
        try provisioner.release(made)
    }

    // MARK: Making and releasing

    @Test func makesTheDirectoryWithModeAndOwner() throws {
        let temporary = try TemporaryDirectory()
        try temporary.makeDirectory("pre")
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        // Root may give the directory away; anyone else can only name their own IDs.
        let (owner, group) = geteuid() == 0 ? (UInt32(4242), UInt32(4343)) : (geteuid(), getegid())
        let request = DirectoryRequest(
            template: temporary.path + "/pre/new/\(placeholder)/data", mode: 0o2751, owner: owner, group: group, mount: .none)
        let made = try provisioner.provision(request, for: id)

        let path = temporary.path + "/pre/new/session-1/data"
        #expect(made.path == path)
        #expect(made.root == temporary.path)
        #expect(made.createdIntermediates == [temporary.path + "/pre/new", temporary.path + "/pre/new/session-1"])
        #expect(made.mount == nil && made.id == id && !made.keep)
        let info = try #require(fileStatus(path))
        #expect(info.st_mode & S_IFMT == S_IFDIR)
        #expect(info.st_mode & 0o7777 == 0o2751)
        #expect(info.st_uid == owner && info.st_gid == group)
        // Intermediates are 0755 whatever the umask.
        #expect(try #require(fileStatus(temporary.path + "/pre/new")).st_mode & 0o7777 == 0o755)

        try provisioner.release(made)
        #expect(temporary.listing() == ["pre"])
    }

    @Test func acceptsTheOlderPlaceholderName() throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let made = try provisioner.provision(
            DirectoryRequest(template: temporary.path + "/%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%", mount: .none), for: id)
        #expect(made.path == temporary.path + "/session-1")
        #expect(made.createdIntermediates.isEmpty)
        try provisioner.release(made)
        #expect(temporary.listing().isEmpty)
    }

    @Test func releaseRemovesContentsButNeverFollowsLinksOut() throws {
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("root")
        let outside = try temporary.makeDirectory("outside")
        try temporary.write("outside/precious", "keep me")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let made = try provisioner.provision(DirectoryRequest(template: root + "/\(placeholder)", mount: .none), for: id)

        // What a session might leave: nested files, links out (to a directory and to a file),
        // an unreadable directory, a name that is not UTF-8.
        try temporary.makeDirectory("root/session-1/a/b/c")
        try temporary.write("root/session-1/a/b/c/file")
        try FileManager.default.createSymbolicLink(atPath: made.path + "/a/to-outside", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: made.path + "/a/b/to-file", withDestinationPath: outside + "/precious")
        try temporary.makeDirectory("root/session-1/locked", mode: 0o000)
        let oddName = Array((made.path + "/odd-").utf8CString.dropLast()) + [CChar(bitPattern: 0xFF), 0]
        let fd = open(oddName, O_CREAT | O_WRONLY, 0o644)
        #expect(fd >= 0)
        close(fd)

        try provisioner.release(made)
        #expect(temporary.listing() == ["outside", "outside/precious", "root"])
        #expect(try String(contentsOfFile: outside + "/precious", encoding: .utf8) == "keep me")
    }

    @Test func keepKeepsAndCanBeOverridden() throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let kept = try provisioner.provision(DirectoryRequest(template: temporary.path + "/k/\(placeholder)", mount: .none, keep: true), for: id)
        #expect(kept.keep)
        try temporary.write("k/session-1/state")
        try provisioner.release(kept)
        #expect(temporary.listing() == ["k", "k/session-1", "k/session-1/state"])
        try provisioner.release(kept, keep: false)
        #expect(temporary.listing().isEmpty)

        let other = try FractalID("session-2")
        let plain = try provisioner.provision(DirectoryRequest(template: temporary.path + "/\(placeholder)", mount: .none), for: other)
        try provisioner.release(plain, keep: true)
        #expect(temporary.listing() == ["session-2"])
    }

    @Test func releaseIsIdempotent() throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let made = try provisioner.provision(DirectoryRequest(template: temporary.path + "/a/b/\(placeholder)", mount: .none), for: id)
        try provisioner.release(made)
        try provisioner.release(made)
        #expect(temporary.listing().isEmpty)

        // Only the directory itself gone, its parent (the root) still there.
        let leafOnly = try provisioner.provision(DirectoryRequest(template: temporary.path + "/\(placeholder)", mount: .none), for: id)
        try provisioner.release(leafOnly)
        try provisioner.release(leafOnly)
        #expect(temporary.listing().isEmpty)

        // Gone behind our back, wholly or in part.
        let again = try provisioner.provision(DirectoryRequest(template: temporary.path + "/a/b/\(placeholder)", mount: .none), for: id)
        try FileManager.default.removeItem(atPath: temporary.path + "/a/b")
        try provisioner.release(again)
        #expect(temporary.listing().isEmpty)
    }

    @Test func leavesIntermediatesOthersStillUse() throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let template = temporary.path + "/sessions/\(placeholder)"
        let first = try provisioner.provision(DirectoryRequest(template: template, mount: .none), for: id)
        let second = try provisioner.provision(DirectoryRequest(template: template, mount: .none), for: FractalID("session-2"))
        #expect(first.createdIntermediates == [temporary.path + "/sessions"])
        #expect(second.createdIntermediates.isEmpty)
        try provisioner.release(first)
        #expect(temporary.listing() == ["sessions", "sessions/session-2"])
        try provisioner.release(second)
        #expect(temporary.listing() == ["sessions"])
    }

    @Test func refusesADirectoryThatExistsUnlessItIsRecordedAsOurs() throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let request = DirectoryRequest(template: temporary.path + "/x/\(placeholder)", mount: .none)
        let made = try provisioner.provision(request, for: id)
        try temporary.write("x/session-1/state")

        #expect(throws: DirectoryError.alreadyExists(made.path)) { try provisioner.provision(request, for: id) }
        #expect(temporary.listing() == ["x", "x/session-1", "x/session-1/state"])

        let adopted = try provisioner.provision(request, for: id, adopting: made)
        #expect(adopted == made)
        #expect(throws: DirectoryError.self) { try provisioner.provision(request, for: FractalID("other"), adopting: made) }
        try provisioner.release(adopted)
        #expect(temporary.listing().isEmpty)
    }

    // MARK: Links and other things in the way

    @Test func refusesASymbolicLinkInAnIntermediateAndLeavesNothing() throws {
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("root")
        try temporary.makeDirectory("root/real")
        let outside = try temporary.makeDirectory("outside")
        try FileManager.default.createSymbolicLink(atPath: root + "/real/link", withDestinationPath: outside)
        let before = temporary.listing()
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])

        for template in [root + "/real/link/\(placeholder)", root + "/real/link/deeper/\(placeholder)"] {
            #expect(throws: DirectoryError.symlinkInPath(root + "/real/link")) {
                try provisioner.provision(DirectoryRequest(template: template, mount: .none), for: id)
            }
        }
        #expect(temporary.listing() == before)
    }

    @Test func refusesARelativeLinkThatStaysInsideToo() throws {
        // Even a link that would resolve inside the root is refused: links are never followed.
        let temporary = try TemporaryDirectory()
        try temporary.makeDirectory("target")
        try FileManager.default.createSymbolicLink(atPath: temporary.path + "/link", withDestinationPath: "target")
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        #expect(throws: DirectoryError.symlinkInPath(temporary.path + "/link")) {
            try provisioner.provision(DirectoryRequest(template: temporary.path + "/link/\(placeholder)", mount: .none), for: id)
        }
        #expect(temporary.listing() == ["link", "target"])
    }

    @Test func refusesALinkWhereTheDirectoryShouldBe() throws {
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("root")
        let outside = try temporary.makeDirectory("outside")
        try FileManager.default.createSymbolicLink(atPath: root + "/session-1", withDestinationPath: outside)
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let request = DirectoryRequest(template: root + "/\(placeholder)", mode: 0o777, mount: .none)
        #expect(throws: DirectoryError.alreadyExists(root + "/session-1")) { try provisioner.provision(request, for: id) }
        // Even a record claiming it does not make the provisioner follow it.
        let forged = ProvisionedDirectory(id: id, path: root + "/session-1", root: root, createdIntermediates: [], mount: nil, keep: false)
        #expect(throws: DirectoryError.symlinkInPath(root + "/session-1")) {
            try provisioner.provision(request, for: id, adopting: forged)
        }
        #expect(try #require(fileStatus(outside)).st_mode & 0o777 == 0o755)
        // Releasing it removes the link, not what it points to.
        try provisioner.release(forged)
        #expect(temporary.listing() == ["outside", "root"])
    }

    @Test func refusesAFileInTheWay() throws {
        let temporary = try TemporaryDirectory()
        try temporary.write("file")
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        #expect(throws: DirectoryError.notADirectory(temporary.path + "/file")) {
            try provisioner.provision(DirectoryRequest(template: temporary.path + "/file/\(placeholder)", mount: .none), for: id)
        }
        #expect(temporary.listing() == ["file"])
    }

    @Test func aFailureHalfWayRemovesWhatWasMade() throws {
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("root")
        try temporary.makeDirectory("root/pre")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let before = temporary.listing()

        // The bind source is only opened after the directories are made.
        let missing = DirectoryRequest(template: root + "/pre/a/b/\(placeholder)", mount: .bind(source: temporary.path + "/missing"))
        #expect(throws: DirectoryError.system(operation: "open bind source", path: temporary.path + "/missing", errno: ENOENT)) {
            try provisioner.provision(missing, for: id)
        }
        #expect(temporary.listing() == before)

        let sourceParent = try temporary.makeDirectory("source")
        try FileManager.default.createSymbolicLink(atPath: temporary.path + "/source-link", withDestinationPath: sourceParent)
        let linked = DirectoryRequest(
            template: root + "/pre/a/\(placeholder)", mount: .bind(source: temporary.path + "/source-link"))
        #expect(throws: DirectoryError.symlinkInPath(temporary.path + "/source-link")) {
            try provisioner.provision(linked, for: id)
        }
        let file = try temporary.write("source/file")
        let notDirectory = DirectoryRequest(template: root + "/\(placeholder)", mount: .bind(source: file))
        #expect(throws: DirectoryError.notADirectory(file)) { try provisioner.provision(notDirectory, for: id) }
        #expect(temporary.listing() == before + ["source", "source-link", "source/file"].sorted())
    }

    // MARK: Records

    @Test func releaseRefusesRecordsThatPointElsewhere() throws {
        let temporary = try TemporaryDirectory()
        let root = try temporary.makeDirectory("root")
        let victim = try temporary.makeDirectory("victim")
        try temporary.write("victim/file")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let records = [
            ProvisionedDirectory(id: id, path: victim, root: root, createdIntermediates: [], mount: nil, keep: false),
            ProvisionedDirectory(id: id, path: root + "/../victim", root: root, createdIntermediates: [], mount: nil, keep: false),
            ProvisionedDirectory(id: id, path: root + "/x", root: temporary.path, createdIntermediates: [], mount: nil, keep: false),
            ProvisionedDirectory(id: id, path: root + "/x/y", root: root, createdIntermediates: [victim], mount: nil, keep: false),
            ProvisionedDirectory(id: id, path: root + "/x/y", root: root, createdIntermediates: [root + "/x/y"], mount: nil, keep: false),
            ProvisionedDirectory(
                id: id, path: root + "/x", root: root, createdIntermediates: [],
                mount: ProvisionedMount(kind: .tmpfs, target: victim, source: nil), keep: false),
        ]
        for record in records {
            #expect(throws: DirectoryError.self) { try provisioner.release(record) }
        }
        #expect(temporary.listing() == ["root", "victim", "victim/file"])
    }

    @Test func recordsRoundTripThroughJSON() throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let made = try provisioner.provision(DirectoryRequest(template: temporary.path + "/a/\(placeholder)", mount: .none), for: id)
        let decoded = try JSONDecoder().decode(ProvisionedDirectory.self, from: JSONEncoder().encode(made))
        #expect(decoded == made)
        try provisioner.release(decoded)
        #expect(temporary.listing().isEmpty)
    }

    @Test func sessionsMakeAndReleaseConcurrently() async throws {
        let temporary = try TemporaryDirectory()
        let provisioner = try DirectoryProvisioner(allowedRoots: [temporary.path])
        let template = temporary.path + "/shared/deeper/\(placeholder)"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<16 {
                group.addTask {
                    // Rounds, so releases remove shared parents while others walk through them.
                    for _ in 0..<20 {
                        let made = try provisioner.provision(DirectoryRequest(template: template, mount: .none), for: FractalID("s\(index)"))
                        try provisioner.release(made)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Whoever made the shared parents may have left them for a session still inside.
        #expect(temporary.listing().allSatisfy { $0 == "shared" || $0 == "shared/deeper" })
    }
}
