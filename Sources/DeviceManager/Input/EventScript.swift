import CLibEvdev
import Foundation

/// Builds event batches from what a person types: key names, text, moves, clicks.
/// Used by `devicectl inject` to check a session by hand; every step ends with `SYN_REPORT`.
public enum EventScript {
    /// Why a step could not be turned into events.
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// A key or button code from its kernel name (`KEY_A`, `BTN_SOUTH`) or a short form
    /// (`a`, `enter`, `south` for `BTN_SOUTH`; a key wins over a button of the same short name).
    public static func code(named name: String) throws(Error) -> UInt16 {
        let upper = name.uppercased()
        for candidate in [upper, "KEY_" + upper, "BTN_" + upper] {
            let code = libevdev_event_code_from_name(UInt32(EV_KEY), candidate)
            if code >= 0 { return UInt16(code) }
        }
        throw Error(description: "unknown key or button '\(name)': use a kernel name such as KEY_A, KEY_ENTER, BTN_LEFT, BTN_SOUTH")
    }

    /// An axis code from its kernel name (`ABS_X`, `REL_WHEEL`) for the given event type.
    public static func axis(named name: String, type: UInt16) throws(Error) -> UInt16 {
        let code = libevdev_event_code_from_name(UInt32(type), name.uppercased())
        guard code >= 0 else { throw Error(description: "unknown axis '\(name)': use a kernel name such as ABS_X or REL_WHEEL") }
        return UInt16(code)
    }

    public static func tap(_ code: UInt16) -> [InputEvent] {
        [.key(code, pressed: true), .syn(), .key(code, pressed: false), .syn()]
    }

    public static func press(_ code: UInt16, down: Bool) -> [InputEvent] {
        [.key(code, pressed: down), .syn()]
    }

    /// Key taps that type `text` on a US layout, with Shift where the character needs it.
    public static func type(_ text: String) throws(Error) -> [InputEvent] {
        var events: [InputEvent] = []
        for character in text {
            guard let (name, shifted) = usLayout[character] else {
                throw Error(description: "cannot type '\(character)': only printable ASCII, tab and newline are mapped (US layout)")
            }
            let code = try code(named: name)
            let shift = UInt16(KEY_LEFTSHIFT)
            if shifted { events += press(shift, down: true) }
            events += tap(code)
            if shifted { events += press(shift, down: false) }
        }
        return events
    }

    /// Parses `DX,DY` or `X,Y`.
    public static func pair(_ text: String) throws(Error) -> (Int32, Int32) {
        let parts = text.split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let x = parts[0], let y = parts[1] else {
            throw Error(description: "'\(text)' is not two integers separated by a comma, such as 10,-5")
        }
        return (x, y)
    }

    private static let usLayout: [Character: (String, Bool)] = {
        var map: [Character: (String, Bool)] = [" ": ("KEY_SPACE", false), "\n": ("KEY_ENTER", false), "\t": ("KEY_TAB", false)]
        for letter in "abcdefghijklmnopqrstuvwxyz" {
            map[letter] = ("KEY_" + letter.uppercased(), false)
            map[Character(letter.uppercased())] = ("KEY_" + letter.uppercased(), true)
        }
        for (digit, symbol) in zip("1234567890", "!@#$%^&*()") {
            map[digit] = ("KEY_\(digit)", false)
            map[symbol] = ("KEY_\(digit)", true)
        }
        let punctuation: [(Character, Character, String)] = [
            ("-", "_", "KEY_MINUS"), ("=", "+", "KEY_EQUAL"), ("[", "{", "KEY_LEFTBRACE"), ("]", "}", "KEY_RIGHTBRACE"),
            ("\\", "|", "KEY_BACKSLASH"), (";", ":", "KEY_SEMICOLON"), ("'", "\"", "KEY_APOSTROPHE"), ("`", "~", "KEY_GRAVE"),
            (",", "<", "KEY_COMMA"), (".", ">", "KEY_DOT"), ("/", "?", "KEY_SLASH"),
        ]
        for (plain, shifted, name) in punctuation {
            map[plain] = (name, false)
            map[shifted] = (name, true)
        }
        return map
    }()
}
