import DeviceManager

/// A pool of session slots the kubelet schedules as one extended resource.
///
/// Allocate sees device IDs, never the pod's annotations, so a pod chooses what its session gets
/// by the resource it requests: each pool is one device profile.
public struct KubeletPool: Sendable, Hashable {
    /// The slots' name prefix (`input` makes `input-0`, `input-1`, ...).
    public let name: String
    /// The extended resource a pod requests (`fractal.dev/input: 1`).
    public let resourceName: String
    /// The devices each of the pool's leases gets.
    public let devices: [DeviceRole]

    /// Keyboard, mouse and tablet: what a session gets unless it asks for more.
    public static let input = KubeletPool(name: "input", resourceName: "fractal.dev/input", devices: LeaseRequest.defaultDevices)
    /// The same and a gamepad.
    public static let inputGamepad = KubeletPool(
        name: "input-gamepad", resourceName: "fractal.dev/input-gamepad", devices: LeaseRequest.defaultDevices + [.gamepad])
    /// Every pool the plugin registers.
    public static let all: [KubeletPool] = [.input, .inputGamepad]

    /// The pool whose resource is `resourceName`.
    public static func named(resource resourceName: String) -> KubeletPool? {
        all.first { $0.resourceName == resourceName }
    }

    /// The file name of the pool's endpoint socket in the kubelet's device-plugin directory:
    /// what `Register` names, since the kubelet dials `<its directory>/<endpoint>`.
    public var endpoint: String { "fractal-\(name).sock" }
}
