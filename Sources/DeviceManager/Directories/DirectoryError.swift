import FractalSystem
import SystemPackage
import Glibc

/// Why a per-session directory could not be parsed, provisioned or released.
///
/// Every case names the template or path involved; `description` says what to change.
public enum DirectoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A `--directory` spec string that does not follow the documented syntax.
    case invalidSpec(String, reason: String)
    /// A request whose parts do not fit together (e.g. `ro` without a mount, a zero-byte tmpfs).
    case invalidRequest(String, reason: String)
    /// A configured allowed root that is unusable.
    case invalidRoot(String, reason: String)
    /// A template without `%%FRACTAL_ID_PLACEHOLDER%%`: every session would get the same directory.
    case noPlaceholder(String)
    /// A template (or bind source) that is not an absolute path.
    case notAbsolute(String)
    /// A template (or bind source) with a `.` or `..` component.
    case dotDotComponent(String)
    /// A path not strictly below any of the allowed roots.
    case outsideAllowedRoots(String, roots: [String])
    /// A symbolic link where a directory was expected, found (or raced in) while walking the path.
    case symlinkInPath(String)
    /// A path component that exists but is not a directory.
    case notADirectory(String)
    /// The directory already exists and is not recorded as this session's.
    case alreadyExists(String)
    /// Something the manager did not mount sits at or below the directory; nothing was removed there.
    case foreignMount(String)
    /// A `ProvisionedDirectory` record that does not describe a directory this manager could have made.
    case invalidRecord(String, reason: String)
    /// A system call failed.
    case system(SystemError)

    /// A system call failed: `operation` on `path`, with `errno`.
    public static func system(operation: String, path: String, errno: Int32) -> DirectoryError {
        .system(SystemError(operation: operation, path: path, errno: errno))
    }

    /// What went wrong and what to change, for a person.
    public var description: String {
        switch self {
        case .invalidSpec(let spec, let reason):
            return "directory spec '\(spec)' is not valid: \(reason); expected \(DirectoryRequest.syntax)"
        case .invalidRequest(let template, let reason):
            return "directory request for '\(template)' is not valid: \(reason)"
        case .invalidRoot(let root, let reason):
            return "allowed directory root '\(root)' is not usable: \(reason)"
        case .noPlaceholder(let template):
            return "directory template '\(template)' has no \(Placeholder.fractalID): every session would share it; put the placeholder in the path"
        case .notAbsolute(let path):
            return "directory path '\(path)' is not absolute: start it with '/'"
        case .dotDotComponent(let path):
            return "directory path '\(path)' has a '.' or '..' component: write the path out in full"
        case .outsideAllowedRoots(let path, let roots):
            return "directory '\(path)' is not below any allowed root (\(roots.joined(separator: ", "))): move it below one, or add a root to the configuration"
        case .symlinkInPath(let path):
            return "'\(path)' is a symbolic link (or was swapped for one): session directories are only made through real directories; replace the link with a directory"
        case .notADirectory(let path):
            return "'\(path)' exists and is not a directory: remove it or choose another template"
        case .alreadyExists(let path):
            return "directory '\(path)' already exists and is not recorded as this session's: another session or stale data holds it; remove it if it is stale"
        case .foreignMount(let path):
            return "'\(path)' is a mount point the manager did not make: unmount it, then release again"
        case .invalidRecord(let path, let reason):
            return "directory record for '\(path)' is not valid: \(reason)"
        case .system(let failure):
            var message = "\(failure.operation) '\(failure.path)' failed: \(failure.reason)"
            if failure.errno == .notPermitted && failure.operation.hasPrefix("mount") {
                message += "; mounting needs root (CAP_SYS_ADMIN) in the host's mount namespace"
            } else if failure.errno == .noFunction {
                message += "; Linux 5.8 or later is needed (openat2, statx mount IDs)"
            }
            return message
        }
    }
}
