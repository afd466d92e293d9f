import Foundation
import Logging

/// Where the API's socket is made and how it becomes reachable by root and the socket's group
/// only, from its first instant, without touching a directory the daemon did not make.
///
/// Hummingbird binds the socket itself, and bind(2) makes the file with mode `0777 & ~umask`:
/// fchmod on a socket before bind changes nothing on the filesystem, and a umask is process-wide
/// (other threads make files while the server starts). So the socket is bound in a private
/// directory (mode 0700, root's, made with mkdtemp next to the final path), given its mode and
/// group there, and renamed into place: the name appears already safe, and rename(2) replaces
/// a stale socket atomically.
struct APISocket {
    /// Where clients connect.
    let path: String
    /// The private directory the socket is bound in.
    let stagingDirectory: String
    let groupID: gid_t?

    /// What the server binds to.
    var bindPath: String { stagingDirectory + "/s" }

    /// `sun_path` holds 108 bytes with its terminating NUL.
    static let maximumPathBytes = 107

    /// Makes the socket's directory if it is missing (0750 root:group, or 0700 without a group;
    /// missing parents 0755) and the private directory to bind in. A directory that exists is
    /// left as it is.
    static func prepare(path: String, groupID: gid_t?, logger: Logger) throws -> APISocket {
        guard path.hasPrefix("/"), !path.hasSuffix("/") else {
            throw DaemonStartError(description: "--socket \(path) must be an absolute path to a file")
        }
        guard path.utf8.count <= maximumPathBytes else {
            throw DaemonStartError(description: "--socket \(path) is longer than a unix socket path may be (\(maximumPathBytes) bytes)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory, groupID: groupID, logger: logger)

        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
            throw DaemonStartError(description: "--socket \(path) exists and is not a socket; fractal-agent replaces only a stale socket there")
        }
        var template = Array(((directory == "/" ? "" : directory) + "/.fractal-agent-XXXXXX").utf8CString)
        guard mkdtemp(&template) != nil else {
            throw DaemonStartError(description: "cannot make a private directory in \(directory) to bind the socket in: mkdtemp: \(String(cString: strerror(errno)))")
        }
        let staging = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let socket = APISocket(path: path, stagingDirectory: staging, groupID: groupID)
        guard socket.bindPath.utf8.count <= maximumPathBytes else {
            socket.discard()
            throw DaemonStartError(description: "--socket \(path): its directory's name leaves no room to bind the socket next to it (\(maximumPathBytes) bytes); use a shorter path")
        }
        return socket
    }

    /// Gives the bound socket its mode (0660) and group, then its public name.
    func publish() throws(DaemonStartError) {
        guard chmod(bindPath, 0o660) == 0 else { throw failure("chmod 0660", bindPath) }
        guard chown(bindPath, 0, groupID ?? 0) == 0 else { throw failure("chown", bindPath) }
        guard rename(bindPath, path) == 0 else { throw failure("rename to \(path)", bindPath) }
        rmdir(stagingDirectory)
    }

    /// Removes the private directory and whatever is still bound in it.
    func discard() {
        unlink(bindPath)
        rmdir(stagingDirectory)
    }

    private func failure(_ operation: String, _ path: String) -> DaemonStartError {
        DaemonStartError(description: "cannot publish the API socket: \(operation) \(path): \(String(cString: strerror(errno)))")
    }

    /// mkdir -p, except that only what this call makes gets a mode and owner: an existing
    /// directory (`/run`, `/tmp`, an operator's) keeps its own.
    private static func makeDirectory(_ directory: String, groupID: gid_t?, logger: Logger) throws {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw DaemonStartError(description: "the socket's directory \(directory) is not a directory")
            }
            warnIfExposed(directory, info, groupID: groupID, logger: logger)
            return
        }
        guard errno == ENOENT else {
            throw DaemonStartError(description: "cannot use the socket's directory \(directory): stat: \(String(cString: strerror(errno)))")
        }
        try makeParents(of: directory)
        // 0700 until its owner and mode are set; set through a descriptor of exactly the directory
        // made, so a parent someone else can write cannot swap in a symlink between the calls.
        guard mkdir(directory, 0o700) == 0 else {
            throw DaemonStartError(description: "cannot create the socket's directory \(directory): mkdir: \(String(cString: strerror(errno)))")
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw DaemonStartError(description: "cannot open the socket's directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard fchown(fd, 0, groupID ?? 0) == 0, fchmod(fd, groupID == nil ? 0o700 : 0o750) == 0 else {
            throw DaemonStartError(description: "cannot set the owner and mode of the socket's directory \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Missing parents are made as mkdir -p makes them (0755 less the umask).
    private static func makeParents(of directory: String) throws {
        let parent = (directory as NSString).deletingLastPathComponent
        var info = stat()
        if parent == "/" || stat(parent, &info) == 0 { return }
        try makeParents(of: parent)
        guard mkdir(parent, 0o755) == 0 || errno == EEXIST else {
            throw DaemonStartError(description: "cannot create \(parent): mkdir: \(String(cString: strerror(errno)))")
        }
    }

    /// A directory the daemon did not make keeps its mode, but the operator hears when it lets
    /// someone else rename the socket away, or keeps the socket's group out.
    private static func warnIfExposed(_ directory: String, _ info: stat, groupID: gid_t?, logger: Logger) {
        let mode = info.st_mode
        let sticky = mode & S_ISVTX != 0
        if info.st_uid != 0 || (!sticky && mode & 0o022 != 0) {
            logger.warning("the socket's directory \(directory) (mode \(String(mode & 0o7777, radix: 8)), uid \(info.st_uid)) lets others than root replace the socket; fractal-agent leaves directories it did not make as they are")
        }
        if let groupID, mode & 0o001 == 0, !(info.st_gid == groupID && mode & 0o010 != 0) {
            logger.warning("members of the socket's group (gid \(groupID)) cannot reach \(directory) (mode \(String(mode & 0o7777, radix: 8)), gid \(info.st_gid)); fractal-agent leaves directories it did not make as they are: change it, or remove it to have it made")
        }
    }
}
