/// What a session may send to the host kernel through its devices.
///
/// Events a session injects reach the host's own input handlers too (the VT keyboard handler,
/// SysRq), so the default keeps out what would act on the host rather than on the session.
public enum InputPolicy: String, Codable, CaseIterable, Sendable {
    /// Drops SysRq, Ctrl+Alt+Del, Ctrl+Alt+Backspace, Ctrl+Alt+F1...F12 and power/sleep keys;
    /// keyboards' fds are not handed off (the filter could not see their events).
    case standard = "default"
    /// Only gamepads may be driven; only their fds are handed off.
    case gamepadOnly = "gamepad-only"
    /// No filter beyond each device's declared capabilities; every fd may be handed off.
    case trusted
}
