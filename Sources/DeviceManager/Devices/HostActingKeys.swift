import CUInput

/// Keys whose meaning is the host's, not the session's: the kernel's magic SysRq handler, logind
/// and acpid's power and sleep keys, the kernel's rfkill-input radio switches. Every event handler
/// on the host sees a session device's events, so no built-in profile declares these codes, and
/// the kernel then refuses them whoever writes them (the daemon, a handed-off fd, or a write(2) to
/// the event node inside a container). Print Screen is KEY_PRINT (210), which keyboards keep.
public enum HostActingKeys {
    /// KEY_SYSRQ: with Alt, the kernel's magic SysRq (reboot, kill all, ...).
    public static let sysrq = UInt16(KEY_SYSRQ)
    /// Power, suspend, hibernate, wake and reboot keys.
    public static let power: Set<UInt16> = [
        UInt16(KEY_POWER), UInt16(KEY_POWER2), UInt16(KEY_SLEEP), UInt16(KEY_SUSPEND),
        UInt16(KEY_WAKEUP), UInt16(KEY_RESTART),
    ]
    /// Radio kill switches (rfkill-input toggles the host's Wi-Fi and Bluetooth on them).
    public static let radio: Set<UInt16> = [
        UInt16(KEY_WLAN), UInt16(KEY_BLUETOOTH), UInt16(KEY_UWB), UInt16(KEY_WIMAX), UInt16(KEY_RFKILL),
    ]
    /// Every key above.
    public static let all: Set<UInt16> = power.union(radio).union([sysrq])
}
