import Foundation

import DeviceManager

/// The `fractal.devices` Docker label: which input devices a container wants from the session's lease.
///
/// A comma-separated list of ``DeviceRole`` names (`keyboard,mouse,tablet,gamepad`); game
/// controllers may repeat, one device each (`keyboard,dualsense,dualsense`: the lease's
/// `dualsense` and `dualsense-2`); empty or `none` asks for no devices. A container without the label gets ``defaultRoles``.
public enum DeviceRolesLabel {
    /// The label's name.
    public static let key = "fractal.devices"
    /// What a container without the label gets.
    public static let defaultRoles: [DeviceRole] = [.keyboard, .mouse, .tablet]

    /// `fractal.hotplug`: roles made unplugged at the start, for `POST /v1/leases/{id}/devices`
    /// to plug into the running container (its device access is fixed when it is created).
    public static let hotplugKey = "fractal.hotplug"
    /// `fractal.input-policy`: `default`, `gamepad-only` or `trusted` (docs/SESSION-PROTOCOL.md).
    public static let policyKey = "fractal.input-policy"
    /// `fractal.session-dir`: where the session socket's directory appears in the container.
    public static let sessionDirectoryKey = "fractal.session-dir"

    /// The roles named by `labels` under `key`, or `defaults` when the label is absent.
    /// - Parameter path: where the labels are, for errors (`containerDefinitions[0].dockerLabels`).
    public static func roles(
        in labels: [String: String]?, path: String, key: String = key, defaults: [DeviceRole] = defaultRoles
    ) throws(TaskDefinitionError) -> [DeviceRole] {
        guard let text = labels?[key] else { return defaults }
        let fieldPath = "\(path)[\"\(key)\"]"
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "none" { return [] }
        var roles: [DeviceRole] = []
        for word in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let name = word.trimmingCharacters(in: .whitespaces)
            guard let role = DeviceRole(rawValue: name) else {
                let allowed = DeviceRole.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalid(
                    path: fieldPath,
                    reason: "names unknown device role '\(name)'; allowed roles: \(allowed) (comma-separated), or none")
            }
            guard role.isGamepad || !roles.contains(role) else {
                throw .invalid(path: fieldPath, reason: "names device role '\(name)' twice (only game controllers may repeat)")
            }
            roles.append(role)
        }
        let gamepads = roles.filter(\.isGamepad).count
        guard gamepads <= DeviceHandle.maximumGamepads else {
            throw .invalid(path: fieldPath, reason: "names \(gamepads) game controllers; a session holds at most \(DeviceHandle.maximumGamepads)")
        }
        return roles
    }
}
