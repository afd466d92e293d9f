import CLibEvdev
import CLibXKBCommon
import Foundation

/// An XKB layout as RMLVO names it, on rules `evdev` and model `pc105`: `de`, or `fr` with variant `bepo`.
///
/// The names become file names under the XKB data directory, so they are held to the characters
/// XKB's own layout, variant and option names use: a request can never name a path.
public struct KeyboardLayoutName: Hashable, Sendable, Codable, CustomStringConvertible {
    public let layout: String
    public let variant: String?
    /// XKB options (`lv3:ralt_switch,compose:menu`), comma-separated.
    public let options: String?

    /// The layout text and typing use when none is named.
    public static let us = try! KeyboardLayoutName(layout: "us")

    public init(layout: String, variant: String? = nil, options: String? = nil) throws(KeyboardLayoutError) {
        // One layout only: text is typed in the keymap's first group, so "us,de" would type only us.
        try Self.check("layout", layout, allowing: "-_")
        if let variant { try Self.check("variant", variant, allowing: "-_") }
        if let options { try Self.check("options", options, allowing: "-_:,") }
        self.layout = layout
        self.variant = variant.flatMap { $0.isEmpty ? nil : $0 }
        self.options = options.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `LAYOUT[,VARIANT]`, as `devicectl inject --layout` takes it: `de`, `de,nodeadkeys`.
    public init(parsing text: String) throws(KeyboardLayoutError) {
        let parts = text.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        try self.init(layout: parts[0], variant: parts.count > 1 ? parts[1] : nil)
    }

    /// `de`, `de(nodeadkeys)`, `de(nodeadkeys) [lv3:ralt_switch]`: XKB's own spelling.
    public var description: String {
        layout + (variant.map { "(\($0))" } ?? "") + (options.map { " [\($0)]" } ?? "")
    }

    private static func check(_ field: String, _ value: String, allowing extra: String) throws(KeyboardLayoutError) {
        let valid = !value.isEmpty && value.count <= 64
            && value.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || extra.unicodeScalars.contains($0) }
        guard valid || (field != "layout" && value.isEmpty) else {
            throw .invalidName(field: field, value: value)
        }
    }
}

/// Why text could not be typed in a layout.
public enum KeyboardLayoutError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A layout, variant or options name with characters XKB names never have.
    case invalidName(field: String, value: String)
    /// xkbcommon could not compile the keymap (an unknown layout or variant): its own messages.
    case notCompiled(KeyboardLayoutName, reason: String)
    /// Characters the layout has no key for, with their positions; nothing was typed.
    case untypable([UntypableCharacter], layout: KeyboardLayoutName)

    public var description: String {
        switch self {
        case .invalidName(let field, let value):
            return "keyboard \(field) '\(value)' is not an XKB name (1-64 of A-Z a-z 0-9 - _\(field == "options" ? " : ," : ""))"
        case .notCompiled(let name, let reason):
            return "keyboard layout \(name) does not compile (rules evdev, model pc105)" + (reason.isEmpty ? "" : ": \(reason)")
        case .untypable(let characters, let layout):
            let shown = characters.prefix(20).map { "'\($0.character)' (U+\($0.codePoints)) at \($0.offset)" }
            let more = characters.count > shown.count ? " and \(characters.count - shown.count) more" : ""
            return "keyboard layout \(layout) cannot type \(shown.joined(separator: ", "))\(more)"
        }
    }
}

/// A character of a text that a layout cannot type, at its position (in characters, from 0).
public struct UntypableCharacter: Hashable, Sendable, Codable {
    public let offset: Int
    public let character: String

    public init(offset: Int, character: String) {
        self.offset = offset
        self.character = character
    }

    /// `00E4` or `0061 0308`: what a person can look up when the glyph does not show.
    public var codePoints: String {
        character.unicodeScalars.map { String(format: "%04X", $0.value) }.joined(separator: " ")
    }
}

/// What a layout types and how: for each character, the key and the modifier keys held for it,
/// read from the keymap xkbcommon compiles (AltGr is whichever key the layout makes
/// ISO_Level3_Shift, right Alt on de and fr). A letter with one accent that no key types is
/// typed as the layout's dead key for the accent, then the letter (ä on fr: dead_diaeresis, a),
/// which the reader's compose table turns into the letter; anything longer is untypable.
///
/// Built once per layout; holds no xkbcommon objects, so it is a plain value any thread may use.
public struct KeyboardLayout: Sendable {
    /// A key tap with modifiers held around it, in kernel key codes (KEY_*).
    public struct Stroke: Hashable, Sendable {
        public let key: UInt16
        /// Pressed in order before `key`, released in reverse after it.
        public let modifiers: [UInt16]
    }

    public let name: KeyboardLayoutName
    private let strokes: [Character: Stroke]
    /// The dead key for each combining accent the layout has one for (U+0308 → dead_diaeresis).
    private let deadKeys: [Unicode.Scalar: Stroke]

    /// Compiles `name`'s keymap and reads which keys type which characters, using only `keys`
    /// (by default the lease keyboard's keys: a key the device lacks would never arrive).
    public init(_ name: KeyboardLayoutName, keys: Set<UInt16> = KeyboardLayout.keyboardKeys) throws(KeyboardLayoutError) {
        let keymap = try XKBKeymap(name)
        self.name = name
        (strokes, deadKeys) = keymap.strokes(keys: keys)
    }

    /// The lease keyboard's keys (`DeviceProfile.keyboard`).
    public static let keyboardKeys = Set(DeviceProfile.keyboard.codes[UInt16(EV_KEY)] ?? [])

    /// How `character` is typed by a key of its own, or nil when the layout has none for it.
    /// `"\n"`, `"\r"` and `"\r\n"` are Return; a decomposed character is looked up composed.
    public func stroke(for character: Character) -> Stroke? {
        if let stroke = strokes[character] { return stroke }
        let composed = Character(String(character).precomposedStringWithCanonicalMapping)
        return strokes[composed]
    }

    /// The strokes that type `character`: its own key, or a dead key and then the base letter
    /// when it is one letter with one accent the layout has a dead key for; nil otherwise.
    public func strokes(for character: Character) -> [Stroke]? {
        if let stroke = stroke(for: character) { return [stroke] }
        let scalars = Array(String(character).decomposedStringWithCanonicalMapping.unicodeScalars)
        guard scalars.count == 2, let dead = deadKeys[scalars[1]], let base = stroke(for: Character(scalars[0])) else { return nil }
        return [dead, base]
    }

    /// The events that type `text`, one group per character (modifiers down, key down and up,
    /// modifiers up, each followed by SYN_REPORT), or every character the layout cannot type.
    public func strokeEvents(typing text: String) throws(KeyboardLayoutError) -> [[InputEvent]] {
        var groups: [[InputEvent]] = []
        var untypable: [UntypableCharacter] = []
        for (offset, character) in text.enumerated() {
            guard let strokes = strokes(for: character) else {
                untypable.append(UntypableCharacter(offset: offset, character: String(character)))
                continue
            }
            var events: [InputEvent] = []
            for stroke in strokes {
                for modifier in stroke.modifiers { events += [.key(modifier, pressed: true), .syn()] }
                events += [.key(stroke.key, pressed: true), .syn(), .key(stroke.key, pressed: false), .syn()]
                for modifier in stroke.modifiers.reversed() { events += [.key(modifier, pressed: false), .syn()] }
            }
            groups.append(events)
        }
        guard untypable.isEmpty else { throw .untypable(untypable, layout: name) }
        return groups
    }

    /// `strokeEvents(typing:)` as one list.
    public func events(typing text: String) throws(KeyboardLayoutError) -> [InputEvent] {
        try strokeEvents(typing: text).flatMap { $0 }
    }

    /// `strokeEvents(typing:)` joined into writes of at most `maximumEvents` events, a character
    /// never split: one write of a long text would overflow a reader's evdev buffer (64 events
    /// on a keyboard) before it could read, and the kernel would drop keys (SYN_DROPPED).
    public func batches(typing text: String, maximumEvents: Int = 32) throws(KeyboardLayoutError) -> [[InputEvent]] {
        var batches: [[InputEvent]] = []
        for group in try strokeEvents(typing: text) {
            if let last = batches.last, last.count + group.count <= maximumEvents {
                batches[batches.count - 1] += group
            } else {
                batches.append(group)
            }
        }
        return batches
    }
}

/// A compiled keymap, owned: freed with its context when the value goes.
final class XKBKeymap {
    let context: OpaquePointer
    let keymap: OpaquePointer

    /// xkbcommon's error messages while compiling, for the error that names the layout.
    private final class Messages { var lines: [String] = [] }

    init(_ name: KeyboardLayoutName) throws(KeyboardLayoutError) {
        // Environment names (XKB_DEFAULT_LAYOUT, ...) would change what a named layout means.
        guard let context = xkb_context_new(XKB_CONTEXT_NO_ENVIRONMENT_NAMES) else {
            throw .notCompiled(name, reason: "xkb_context_new failed")
        }
        let messages = Messages()
        let box = Unmanaged.passRetained(messages)
        defer { box.release() }
        xkb_context_set_user_data(context, box.toOpaque())
        xkb_context_set_log_level(context, XKB_LOG_LEVEL_ERROR)
        xkb_context_set_log_fn(context) { context, _, format, arguments in
            guard let context, let format, let arguments, let data = xkb_context_get_user_data(context) else { return }
            var buffer = [CChar](repeating: 0, count: 512)
            _ = vsnprintf(&buffer, buffer.count, format, arguments)
            let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let messages = Unmanaged<Messages>.fromOpaque(data).takeUnretainedValue()
            // The first message names what failed; the rest list include paths and the stages abandoned.
            if messages.lines.isEmpty { messages.lines.append(line.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let compiled = "evdev".withCString { rules in
            "pc105".withCString { model in
                name.layout.withCString { layout in
                    (name.variant ?? "").withCString { variant in
                        (name.options ?? "").withCString { options in
                            var names = xkb_rule_names(rules: rules, model: model, layout: layout, variant: variant, options: options)
                            return xkb_keymap_new_from_names(context, &names, XKB_KEYMAP_COMPILE_NO_FLAGS)
                        }
                    }
                }
            }
        }
        // Messages are only collected while compiling: afterwards nothing may log into a freed box.
        xkb_context_set_log_fn(context, nil)
        xkb_context_set_user_data(context, nil)
        guard let compiled else {
            xkb_context_unref(context)
            throw .notCompiled(name, reason: messages.lines.joined(separator: "; "))
        }
        self.context = context
        keymap = compiled
    }

    deinit {
        xkb_keymap_unref(keymap)
        xkb_context_unref(context)
    }

    /// Kernel key codes are XKB keycodes less 8 (evdev rules).
    static func xkbKeycode(_ key: UInt16) -> xkb_keycode_t { xkb_keycode_t(key) + 8 }

    /// The key among `keys` whose first level is `keysym`, the `preferred` one when it is.
    func modifierKey(_ keysym: Int32, preferred: Int32? = nil, keys: [UInt16]) -> UInt16? {
        let candidates = (preferred.map { [UInt16($0)] } ?? []) + keys
        return candidates.first { keys.contains($0) && firstKeysym(of: $0) == xkb_keysym_t(keysym) }
    }

    /// The keysym of `key`'s first level in the first group, or 0.
    func firstKeysym(of key: UInt16) -> xkb_keysym_t {
        var syms: UnsafePointer<xkb_keysym_t>?
        let count = xkb_keymap_key_get_syms_by_level(keymap, Self.xkbKeycode(key), 0, 0, &syms)
        guard count == 1, let syms else { return 0 }
        return syms[0]
    }

    /// Which key and modifiers type each character: every key is tried with no modifier, Shift,
    /// AltGr (Level3), both, and Level5 where the layout has those keys, through xkbcommon's own
    /// state machine, so what is recorded is what a reader with this keymap gets. The fewest
    /// modifiers win, then a main-block key over the keypad's (whose keys depend on Num Lock),
    /// then the lower code. Dead keys are recorded by the accent they add.
    func strokes(keys allowed: Set<UInt16>) -> (characters: [Character: KeyboardLayout.Stroke], deadKeys: [Unicode.Scalar: KeyboardLayout.Stroke]) {
        let keys = allowed.sorted()
        let shift = modifierKey(XKB_KEY_Shift_L, preferred: KEY_LEFTSHIFT, keys: keys) ?? modifierKey(XKB_KEY_Shift_R, keys: keys)
        let level3 = modifierKey(XKB_KEY_ISO_Level3_Shift, preferred: KEY_RIGHTALT, keys: keys)
        let level5 = modifierKey(XKB_KEY_ISO_Level5_Shift, keys: keys)
        var combinations: [[UInt16]] = [[]]
        for modifier in [shift, level3, level5].compactMap({ $0 }) {
            combinations += combinations.map { $0 + [modifier] }
        }
        combinations.sort { $0.count < $1.count }
        let modifierKeys = Set([shift, level3, level5].compactMap { $0 })

        var strokes: [Character: KeyboardLayout.Stroke] = [:]
        var deadKeys: [Unicode.Scalar: KeyboardLayout.Stroke] = [:]
        for keypad in [false, true] {
            for modifiers in combinations {
                guard let state = xkb_state_new(keymap) else { continue }
                defer { xkb_state_unref(state) }
                for modifier in modifiers { xkb_state_update_key(state, Self.xkbKeycode(modifier), XKB_KEY_DOWN) }
                for key in keys where !modifierKeys.contains(key) && Self.isKeypad(firstKeysym(of: key)) == keypad {
                    if let accent = Self.deadKeyAccents[xkb_state_key_get_one_sym(state, Self.xkbKeycode(key))], deadKeys[accent] == nil {
                        deadKeys[accent] = KeyboardLayout.Stroke(key: key, modifiers: modifiers)
                    }
                    let value = xkb_state_key_get_utf32(state, Self.xkbKeycode(key))
                    guard let character = Self.character(value), strokes[character] == nil else { continue }
                    strokes[character] = KeyboardLayout.Stroke(key: key, modifiers: modifiers)
                }
            }
        }
        // Text says a new line as "\n" (or "\r\n"); the Return key says it as U+000D.
        if let enter = strokes["\r"] {
            strokes["\n"] = enter
            strokes["\r\n"] = enter
        }
        return (strokes, deadKeys)
    }

    /// The accents dead keys add, as the combining characters a decomposed letter ends with.
    /// Compose tables turn each dead key and a letter into the letter with the accent.
    static let deadKeyAccents: [xkb_keysym_t: Unicode.Scalar] = [
        xkb_keysym_t(XKB_KEY_dead_grave): "\u{0300}", xkb_keysym_t(XKB_KEY_dead_acute): "\u{0301}",
        xkb_keysym_t(XKB_KEY_dead_circumflex): "\u{0302}", xkb_keysym_t(XKB_KEY_dead_tilde): "\u{0303}",
        xkb_keysym_t(XKB_KEY_dead_macron): "\u{0304}", xkb_keysym_t(XKB_KEY_dead_breve): "\u{0306}",
        xkb_keysym_t(XKB_KEY_dead_abovedot): "\u{0307}", xkb_keysym_t(XKB_KEY_dead_diaeresis): "\u{0308}",
        xkb_keysym_t(XKB_KEY_dead_abovering): "\u{030A}", xkb_keysym_t(XKB_KEY_dead_doubleacute): "\u{030B}",
        xkb_keysym_t(XKB_KEY_dead_caron): "\u{030C}", xkb_keysym_t(XKB_KEY_dead_cedilla): "\u{0327}",
        xkb_keysym_t(XKB_KEY_dead_ogonek): "\u{0328}",
    ]

    private static func isKeypad(_ keysym: xkb_keysym_t) -> Bool {
        (xkb_keysym_t(XKB_KEY_KP_Space)...xkb_keysym_t(XKB_KEY_KP_Equal)).contains(keysym)
    }

    /// The text character a key yields, or nil for none or a control character other than
    /// tab and carriage return (Backspace, Escape and Delete edit; they are not text).
    private static func character(_ value: UInt32) -> Character? {
        guard value != 0, let scalar = Unicode.Scalar(value) else { return nil }
        if value < 0x20 || (0x7F...0x9F).contains(value) {
            guard value == 0x09 || value == 0x0D else { return nil }
        }
        return Character(scalar)
    }
}

/// The reading side, for tests and tools: key events from a keyboard node turned back into
/// text by xkbcommon's state machine with the same keymap and the en_US.UTF-8 compose table
/// (dead keys), as a client of the session would.
/// Independent of `KeyboardLayout`'s reverse map, so a test of one against the other means something.
package final class KeymapReader {
    private let keymap: XKBKeymap
    private let state: OpaquePointer
    private let composeTable: OpaquePointer
    private let compose: OpaquePointer
    /// What has been typed so far; Return is read as "\n".
    package private(set) var text = ""

    package init(_ name: KeyboardLayoutName) throws(KeyboardLayoutError) {
        keymap = try XKBKeymap(name)
        guard let state = xkb_state_new(keymap.keymap) else { throw .notCompiled(name, reason: "xkb_state_new failed") }
        guard let table = xkb_compose_table_new_from_locale(keymap.context, "en_US.UTF-8", XKB_COMPOSE_COMPILE_NO_FLAGS),
              let compose = xkb_compose_state_new(table, XKB_COMPOSE_STATE_NO_FLAGS)
        else {
            xkb_state_unref(state)
            throw .notCompiled(name, reason: "no en_US.UTF-8 compose table")
        }
        self.state = state
        composeTable = table
        self.compose = compose
    }

    deinit {
        xkb_compose_state_unref(compose)
        xkb_compose_table_unref(composeTable)
        xkb_state_unref(state)
    }

    /// Feeds one event; only EV_KEY presses and releases count (autorepeat, value 2, is ignored).
    package func read(_ event: InputEvent) {
        guard event.type == UInt16(EV_KEY), event.value == 0 || event.value == 1 else { return }
        let keycode = XKBKeymap.xkbKeycode(event.code)
        if event.value == 1 {
            let value = xkb_state_key_get_utf32(state, keycode)
            _ = xkb_compose_state_feed(compose, xkb_state_key_get_one_sym(state, keycode))
            switch xkb_compose_state_get_status(compose) {
            case XKB_COMPOSE_COMPOSING:
                break
            case XKB_COMPOSE_COMPOSED:
                var buffer = [CChar](repeating: 0, count: 64)
                let length = xkb_compose_state_get_utf8(compose, &buffer, buffer.count)
                text += String(decoding: buffer.prefix(Int(max(0, length))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                xkb_compose_state_reset(compose)
            case XKB_COMPOSE_CANCELLED:
                xkb_compose_state_reset(compose)
            default:
                if value == 0x0D { text += "\n" } else if value != 0, let scalar = Unicode.Scalar(value) { text.unicodeScalars.append(scalar) }
            }
        }
        xkb_state_update_key(state, keycode, event.value == 1 ? XKB_KEY_DOWN : XKB_KEY_UP)
    }
}
