/// The `phys` string of a Fractal device: `fractal/<FractalID>/<role>`.
///
/// The kernel shows it as the device's `phys` (EVIOCGPHYS, sysfs, udev's `PHYS`), so a udev rule
/// or a container can tell which session and role a device belongs to.
public enum DevicePhys {
    /// The longest `phys` accepted, in bytes: 79, as for the name (80 with the terminating NUL).
    public static let maximumLength = 79

    /// `fractal/<id>/<handle>`: `fractal/<id>/gamepad`, `fractal/<id>/gamepad-2`.
    public static func make(id: FractalID, handle: DeviceHandle) -> String {
        "fractal/\(id.rawValue)/\(handle)"
    }

    /// The phys of lease `id`'s first device of `role`.
    public static func make(id: FractalID, role: DeviceRole) -> String {
        make(id: id, handle: DeviceHandle(role))
    }

    /// Rejects a `phys` that is too long or holds a NUL byte (which C would silently cut at).
    public static func validate(_ phys: String) throws(DeviceProfileError) {
        let bytes = phys.utf8.count
        guard bytes <= maximumLength else { throw .physTooLong(phys, bytes: bytes, limit: maximumLength) }
        guard !phys.utf8.contains(0) else { throw .nulByte(field: "phys") }
    }
}
