import CUInput

/// A session connection's view of what it may send: per device, the profile's codes and the
/// lease's `InputPolicy`; stateful, since Ctrl+Alt combinations and held keys span batches.
///
/// Under every policy, events outside a device's declared capabilities are dropped (the kernel
/// would pass some through, e.g. SYN_DROPPED, which confuses readers). Under `default` (and
/// `gamepad-only`), keys that act on the host rather than the session are dropped: SysRq, the
/// power keys, and Delete, Backspace, keypad Delete and F1…F12 pressed or repeated while Ctrl
/// and Alt are held (VT switch, Ctrl+Alt+Del, zapping X), along with the later repeats and
/// release of a press so dropped. The kernel's VT keyboard handler keeps one modifier state for
/// every keyboard on the host, so "held" means on any of this connection's devices or, as the
/// caller says through `elsewhere`, anywhere else; and a repeat (value 2) of a key the
/// connection does not hold is dropped, since the VT handler would take the key as down for
/// good. Keys this connection pressed are tracked, so that `releaseAll()` can let go of them
/// when it disconnects.
public struct InputFilter: Sendable {
    /// Why events were dropped or a batch refused.
    public enum DropReason: String, CaseIterable, Sendable {
        /// KEY_SYSRQ: the kernel's magic SysRq reaches the host.
        case sysrq
        /// Delete, Backspace, F1…F12 with Ctrl and Alt held (and their repeats and releases).
        case ctrlAlt = "ctrl-alt"
        /// KEY_POWER, KEY_SLEEP, ...: logind acts on them.
        case powerKey = "power-key"
        /// A repeat (value 2) of a key this connection does not hold down.
        case strayRepeat = "stray-repeat"
        /// A type or code the device does not declare, or a value it cannot take.
        case capability
        /// EVENTS for a device index the lease does not have.
        case noSuchDevice = "no-such-device"
        /// The policy refuses every event to this device (gamepad-only).
        case deviceRefused = "device-refused"
    }

    /// Drops by reason, without allocating per batch.
    public struct DropCounts: Sendable, Equatable {
        public var sysrq = 0
        public var ctrlAlt = 0
        public var powerKey = 0
        public var strayRepeat = 0
        public var capability = 0
        public var noSuchDevice = 0
        public var deviceRefused = 0

        public init() {}

        public subscript(reason: DropReason) -> Int {
            get {
                switch reason {
                case .sysrq: sysrq
                case .ctrlAlt: ctrlAlt
                case .powerKey: powerKey
                case .strayRepeat: strayRepeat
                case .capability: capability
                case .noSuchDevice: noSuchDevice
                case .deviceRefused: deviceRefused
                }
            }
            set {
                switch reason {
                case .sysrq: sysrq = newValue
                case .ctrlAlt: ctrlAlt = newValue
                case .powerKey: powerKey = newValue
                case .strayRepeat: strayRepeat = newValue
                case .capability: capability = newValue
                case .noSuchDevice: noSuchDevice = newValue
                case .deviceRefused: deviceRefused = newValue
                }
            }
        }

        public var total: Int { DropReason.allCases.reduce(0) { $0 + self[$1] } }

        /// The reason with the most drops, for an error message.
        public var main: DropReason? {
            DropReason.allCases.filter { self[$0] > 0 }.max { self[$0] < self[$1] }
        }
    }

    /// What one batch came to.
    public struct Outcome: Sendable {
        /// The events to write, in order (empty: nothing to write).
        public var events: [InputEvent]
        public var drops: DropCounts
        /// The whole batch was refused (no such device, or the device is refused by policy).
        public var refused: DropReason?
        /// The first event dropped, for an error message.
        public var firstDropped: InputEvent?
    }

    /// A device as the filter knows it.
    public struct Device: Sendable {
        public let role: DeviceRole
        /// Accepted codes per event type, as bitsets indexed by type (empty: type refused).
        let accepted: [Bits]

        public init(role: DeviceRole, profile: DeviceProfile) {
            self.role = role
            var accepted = [Bits](repeating: Bits(count: 0), count: Int(EV_MAX) + 1)
            for type in [EV_KEY, EV_REL, EV_MSC, EV_SW] {
                guard let codes = profile.codes[UInt16(type)], !codes.isEmpty else { continue }
                var bits = Bits(count: Int(cuinput_event_type_max(UInt32(type))) + 1)
                for code in codes { bits.insert(Int(code)) }
                accepted[Int(type)] = bits
            }
            if !profile.axes.isEmpty {
                var bits = Bits(count: Int(ABS_MAX) + 1)
                for axis in profile.axes { bits.insert(Int(axis.code)) }
                accepted[Int(EV_ABS)] = bits
            }
            var syn = Bits(count: Int(SYN_MAX) + 1)
            // Not SYN_CONFIG or SYN_DROPPED: only the kernel may say events were lost.
            syn.insert(Int(SYN_REPORT))
            syn.insert(Int(SYN_MT_REPORT))
            accepted[Int(EV_SYN)] = syn
            self.accepted = accepted
        }

        func accepts(_ event: InputEvent) -> Bool {
            guard Int(event.type) < accepted.count else { return false }
            return accepted[Int(event.type)].contains(Int(event.code))
        }
    }

    public let policy: InputPolicy
    public let devices: [Device]
    /// Per device: keys written down and not yet up.
    private var held: [Bits]
    /// Per device: keys whose press was dropped as a Ctrl+Alt combination; their repeats and
    /// release are dropped too.
    private var suppressed: [Bits]

    private static let keyCount = Int(KEY_MAX) + 1

    public init(policy: InputPolicy, devices: [Device]) {
        self.policy = policy
        self.devices = devices
        held = devices.map { _ in Bits(count: Self.keyCount) }
        suppressed = devices.map { _ in Bits(count: Self.keyCount) }
    }

    /// Keys that act on the host, not the session: no built-in profile declares them, so the
    /// kernel refuses them from every source (this filter, a handed-off fd, a write(2) to the
    /// event node inside the container); the filter names them for a clearer error.
    public static let powerKeys: Set<UInt16> = HostActingKeys.power.union(HostActingKeys.radio)
    /// Keys that with Ctrl+Alt switch VTs, reboot (Delete, keypad Delete) or kill X (Backspace).
    public static let ctrlAltKeys: Set<UInt16> = Set(
        [UInt16(KEY_DELETE), UInt16(KEY_KPDOT), UInt16(KEY_BACKSPACE)]
            + [KEY_F1, KEY_F2, KEY_F3, KEY_F4, KEY_F5, KEY_F6, KEY_F7, KEY_F8, KEY_F9, KEY_F10].map { UInt16($0) }
            + [UInt16(KEY_F11), UInt16(KEY_F12)])

    /// Ctrl and Alt, as the kernel's VT keyboard handler sees them: held on any keyboard.
    public struct Modifiers: Hashable, Sendable {
        public var ctrl: Bool
        public var alt: Bool

        public init(ctrl: Bool = false, alt: Bool = false) {
            self.ctrl = ctrl
            self.alt = alt
        }

        public static let none = Modifiers()
    }

    /// The modifiers this connection holds down, on any of its devices.
    public var modifiers: Modifiers {
        var result = Modifiers()
        for keys in held {
            result.ctrl = result.ctrl || keys.contains(Int(KEY_LEFTCTRL)) || keys.contains(Int(KEY_RIGHTCTRL))
            result.alt = result.alt || keys.contains(Int(KEY_LEFTALT)) || keys.contains(Int(KEY_RIGHTALT))
        }
        return result
    }

    /// What filtering one batch in place came to (its events are what is left in the batch).
    public struct Verdict: Sendable {
        public var drops = DropCounts()
        /// The whole batch was refused (no such device, or the device is refused by policy).
        public var refused: DropReason?
        /// The first event dropped, for an error message.
        public var firstDropped: InputEvent?

        public init() {}
    }

    /// Filters one batch for the device at `index` in place, leaving in it the events to write;
    /// `elsewhere` is what other connections (of any lease) hold. The held-key state moves as
    /// if every event left was written. Only the events from `start` on are filtered (those
    /// before it were filtered when they came): the frame just appended to what waits.
    public mutating func filter(_ batch: InputEventBatch, device index: Int, elsewhere: Modifiers = .none, from start: Int = 0) -> Verdict {
        var verdict = Verdict()
        if let refused = refusal(ofDevice: index) {
            verdict.refused = refused
            verdict.drops[refused] = batch.count - start
            batch.removeLast(from: start)
            return verdict
        }
        batch.retain(from: start) { event in
            guard let reason = dropReason(event, device: index, elsewhere: elsewhere) else { return true }
            verdict.drops[reason] += 1
            if verdict.firstDropped == nil { verdict.firstDropped = event }
            return false
        }
        return verdict
    }

    /// Filters one batch for the device at `index`, as `filter(_:device:elsewhere:)` on a batch
    /// does (the same pass, on a copy), returning the events to write.
    public mutating func filter(_ events: [InputEvent], device index: Int, elsewhere: Modifiers = .none) -> Outcome {
        let batch = InputEventBatch(events)
        let verdict = filter(batch, device: index, elsewhere: elsewhere)
        return Outcome(events: batch.events, drops: verdict.drops, refused: verdict.refused, firstDropped: verdict.firstDropped)
    }

    /// Why every event to the device at `index` is refused, if it is.
    private func refusal(ofDevice index: Int) -> DropReason? {
        guard devices.indices.contains(index) else { return .noSuchDevice }
        if policy == .gamepadOnly && !devices[index].role.isGamepad { return .deviceRefused }
        return nil
    }

    /// Why `event` is dropped, or nil to write it (and then the held keys follow it).
    private mutating func dropReason(_ event: InputEvent, device index: Int, elsewhere: Modifiers) -> DropReason? {
        let key = UInt16(EV_KEY)
        if event.type == key, event.code == HostActingKeys.sysrq { return .sysrq }
        if event.type == key, Self.powerKeys.contains(event.code) { return .powerKey }
        guard devices[index].accepts(event) else { return .capability }
        guard event.type == key else { return nil }
        if event.value < 0 || event.value > 2 { return .capability }
        if policy != .trusted, let reason = policyDrop(event, device: index, elsewhere: elsewhere) { return reason }
        if event.value == 0 { held[index].remove(Int(event.code)) } else { held[index].insert(Int(event.code)) }
        return nil
    }

    private mutating func policyDrop(_ event: InputEvent, device index: Int, elsewhere: Modifiers) -> DropReason? {
        let code = event.code
        if suppressed[index].contains(Int(code)) {
            if event.value == 0 { suppressed[index].remove(Int(code)) }
            return .ctrlAlt
        }
        // The kernel passes a repeat to its handlers even for a key that is not down, and the VT
        // keyboard handler then marks it down for good (its release never comes through): a
        // stray Ctrl repeat would leave Ctrl held for the next Alt+Delete.
        if event.value == 2 && !held[index].contains(Int(code)) { return .strayRepeat }
        if event.value != 0, Self.ctrlAltKeys.contains(code) {
            let own = modifiers
            if (own.ctrl || elsewhere.ctrl) && (own.alt || elsewhere.alt) {
                // A press that never reached the device takes its release with it; a key that is
                // down keeps its release, or it would stay down.
                if !held[index].contains(Int(code)) { suppressed[index].insert(Int(code)) }
                return .ctrlAlt
            }
        }
        return nil
    }

    /// Whether the connection holds any key down.
    public var holdsKeys: Bool { held.contains { !$0.isEmpty } }

    /// Lets go of every key this connection holds: per device, a release of each and a
    /// SYN_REPORT, to write as one batch. Afterwards nothing is held.
    public mutating func releaseAll() -> [(device: Int, events: [InputEvent])] {
        var batches: [(device: Int, events: [InputEvent])] = []
        for index in held.indices where !held[index].isEmpty {
            var events = held[index].members.map { InputEvent.key(UInt16($0), pressed: false) }
            events.append(.syn())
            batches.append((index, events))
            held[index] = Bits(count: Self.keyCount)
            suppressed[index] = Bits(count: Self.keyCount)
        }
        return batches
    }
}

/// A fixed-size set of small integers.
struct Bits: Sendable, Equatable {
    private var words: [UInt64]
    let count: Int

    init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    func contains(_ member: Int) -> Bool {
        guard member >= 0, member < count else { return false }
        return words[member >> 6] & (1 << UInt64(member & 63)) != 0
    }

    mutating func insert(_ member: Int) {
        guard member >= 0, member < count else { return }
        words[member >> 6] |= 1 << UInt64(member & 63)
    }

    mutating func remove(_ member: Int) {
        guard member >= 0, member < count else { return }
        words[member >> 6] &= ~(1 << UInt64(member & 63))
    }

    var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    var members: [Int] { (0..<count).filter(contains) }
}

extension InputPolicy {
    /// Why this policy keeps a device's uinput fd from a session client, or nil to hand it off.
    ///
    /// A uinput fd is the daemon's own file: whoever holds it can UI_DEV_DESTROY the device and
    /// UI_DEV_SETUP/UI_DEV_CREATE it again as any device (a keyboard with SysRq and power keys,
    /// another lease's phys). No ioctl filter exists for it, so only `trusted` gets one.
    ///
    /// A HID pad's descriptor is its /dev/uhid file, which the daemon reads to answer the
    /// driver: whoever held it could take those answers or make any HID device. Never handed off.
    public func withholdReason(role: DeviceRole, profile: DeviceProfile) -> String? {
        if role.isHIDPad {
            return "a \(role.rawValue) is a uhid device the daemon serves: its descriptor is never handed off; inject with EVENTS"
        }
        switch self {
        case .trusted:
            return nil
        case .standard, .gamepadOnly:
            return "policy \(rawValue) hands off no uinput fd (its holder could recreate the device as a host keyboard); inject with EVENTS"
        }
    }
}
