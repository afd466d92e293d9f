import DeviceManager
import Foundation
import Testing

/// Release of a plain directory whose session left a tree deeper than the process has descriptors.
@Suite struct TreeRemovalTests {
    let id = try! FractalID("deep-session")

    /// Makes a chain of `depth` directories named `d` below `path`, a file and a link out at
    /// every hundredth level, holding two descriptors at a time (the path is far past PATH_MAX).
    func makeChain(below path: String, depth: Int, linkTarget: String) throws {
        var current = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(current >= 0)
        defer { close(current) }
        for level in 0..<depth {
            try #require(mkdirat(current, "d", 0o755) == 0, "mkdir at level \(level): errno \(errno)")
            if level % 100 == 0 {
                let file = openat(current, "f", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
                try #require(file >= 0)
                close(file)
                try #require(symlinkat(linkTarget, current, "out") == 0)
            }
            let next = openat(current, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            try #require(next >= 0, "open at level \(level): errno \(errno)")
            close(current)
            current = next
        }
    }

    @Test func aTreeDeeperThanTheDescriptorLimitIsRemovedWithoutFollowingLinks() throws {
        // On /dev/shm (a tmpfs every Linux has): tens of thousands of directories on a disk's
        // journal take a minute, in memory a few seconds.
        let temporary = try TemporaryDirectory(in: "/dev/shm")
        let root = try temporary.makeDirectory("root")
        let outside = try temporary.makeDirectory("outside")
        try temporary.write("outside/precious", "keep me")
        let provisioner = try DirectoryProvisioner(allowedRoots: [root])
        let made = try provisioner.provision(
            DirectoryRequest(template: root + "/\(Placeholder.fractalID)", mount: .none), for: id)

        // Deeper than this process may have descriptors open (one per level would hit EMFILE),
        // and at least the 3,000 levels one `mkdir -p` in a session makes.
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let depth = min(max(3000, Int(limit.rlim_cur) + 100), 70_000)
        try makeChain(below: made.path, depth: depth, linkTarget: outside)

        try provisioner.release(made)
        #expect(temporary.listing() == ["outside", "outside/precious", "root"])
        #expect(try String(contentsOfFile: outside + "/precious", encoding: .utf8) == "keep me")
    }
}
