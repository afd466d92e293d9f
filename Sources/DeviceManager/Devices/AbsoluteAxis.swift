/// One absolute axis of a device, as the kernel's `struct input_absinfo` describes its range.
public struct AbsoluteAxis: Hashable, Sendable {
    /// ABS_X, ABS_MT_POSITION_X, ...
    public var code: UInt16
    public var minimum: Int32
    public var maximum: Int32
    /// Noise the kernel filters out: changes smaller than this are dropped.
    public var fuzz: Int32
    /// The dead zone around the centre that readers treat as the centre.
    public var flat: Int32
    /// Units per millimetre (per radian for rotation axes); 0 for unknown.
    public var resolution: Int32

    public init(code: UInt16, minimum: Int32, maximum: Int32, fuzz: Int32 = 0, flat: Int32 = 0, resolution: Int32 = 0) {
        self.code = code
        self.minimum = minimum
        self.maximum = maximum
        self.fuzz = fuzz
        self.flat = flat
        self.resolution = resolution
    }
}
