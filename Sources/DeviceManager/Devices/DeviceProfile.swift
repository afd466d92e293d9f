import CUInput

/// Everything the kernel is told about a virtual input device: its identity and what it can send.
///
/// The identity (bus, vendor, product, version, name) is what desktops, SDL and games use to
/// recognise a device; the capabilities decide how udev classifies it (`ID_INPUT_KEYBOARD`,
/// `ID_INPUT_MOUSE`, ...) and so how libinput treats it.
public struct DeviceProfile: Hashable, Sendable {
    /// The longest name accepted, in bytes: uinput's UINPUT_MAX_NAME_SIZE (80) less the NUL.
    public static let maximumNameLength = Int(UINPUT_MAX_NAME_SIZE) - 1

    public var name: String
    /// BUS_USB, BUS_VIRTUAL, ...
    public var bus: UInt16
    public var vendor: UInt16
    public var product: UInt16
    public var version: UInt16
    /// The codes the device can send, per event type (EV_KEY, EV_REL, EV_MSC, EV_LED, EV_FF, ...).
    /// EV_SYN is always on. Absolute axes go in `axes`, not here. EV_REP takes no codes:
    /// an empty list turns on the kernel's key autorepeat.
    public var codes: [UInt16: [UInt16]]
    /// The absolute axes (EV_ABS) and their ranges.
    public var axes: [AbsoluteAxis]
    /// INPUT_PROP_* properties, e.g. INPUT_PROP_DIRECT for a touchscreen.
    public var properties: [UInt16]
    /// How many force-feedback effects programs may upload at once; non-zero exactly when
    /// `codes` has EV_FF codes.
    public var ffEffectsMax: UInt32

    public init(
        name: String,
        bus: UInt16,
        vendor: UInt16,
        product: UInt16,
        version: UInt16,
        codes: [UInt16: [UInt16]],
        axes: [AbsoluteAxis] = [],
        properties: [UInt16] = [],
        ffEffectsMax: UInt32 = 0
    ) {
        self.name = name
        self.bus = bus
        self.vendor = vendor
        self.product = product
        self.version = version
        self.codes = codes
        self.axes = axes
        self.properties = properties
        self.ffEffectsMax = ffEffectsMax
    }

    /// Event types whose codes can be declared in `codes`.
    static let settableTypes: Set<UInt16> = [
        UInt16(EV_KEY), UInt16(EV_REL), UInt16(EV_MSC), UInt16(EV_SW),
        UInt16(EV_LED), UInt16(EV_SND), UInt16(EV_FF), UInt16(EV_REP),
    ]

    /// Checks the profile against what uinput accepts, so that a bad profile is refused with a
    /// clear reason before any system call rather than with a bare EINVAL from an ioctl.
    public func validate() throws(DeviceProfileError) {
        let nameBytes = name.utf8.count
        guard nameBytes > 0 else { throw .emptyName }
        guard nameBytes <= Self.maximumNameLength else {
            throw .nameTooLong(name, bytes: nameBytes, limit: Self.maximumNameLength)
        }
        guard !name.utf8.contains(0) else { throw .nulByte(field: "name") }

        for (type, typeCodes) in codes.sorted(by: { $0.key < $1.key }) {
            guard Self.settableTypes.contains(type) else { throw .unsupportedEventType(type) }
            if type == UInt16(EV_REP) {
                // Delay and period are values the kernel picks, not capability bits.
                if let code = typeCodes.first { throw .unknownCode(type: type, code: code) }
                continue
            }
            let maximum = Int(cuinput_event_type_max(UInt32(type)))
            for code in typeCodes where Int(code) > maximum {
                throw .unknownCode(type: type, code: code)
            }
        }
        for axis in axes {
            guard axis.code <= UInt16(ABS_MAX) else { throw .unknownCode(type: UInt16(EV_ABS), code: axis.code) }
            guard axis.minimum <= axis.maximum else {
                throw .axisRange(code: axis.code, minimum: axis.minimum, maximum: axis.maximum)
            }
        }
        for property in properties where property > UInt16(INPUT_PROP_MAX) {
            throw .unknownProperty(property)
        }

        let hasCapabilities = !axes.isEmpty || codes.contains { $0.key != UInt16(EV_REP) && !$0.value.isEmpty }
        guard hasCapabilities else { throw .noCapabilities(name: name) }

        // uinput refuses EV_FF without effect slots, and silently adds EV_FF for slots without it.
        let hasForceFeedback = !(codes[UInt16(EV_FF)] ?? []).isEmpty
        guard hasForceFeedback == (ffEffectsMax > 0) else {
            throw .forceFeedbackMismatch(ffEffectsMax: ffEffectsMax)
        }
    }
}
