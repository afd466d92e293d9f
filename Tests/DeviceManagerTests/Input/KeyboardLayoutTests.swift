import CLibEvdev
@testable import DeviceManager
import Testing

/// Typing through keymaps xkbcommon compiles from Debian's xkb-data, read back by xkbcommon's own
/// state machine with the same keymap (`KeymapReader`), as a client of the keyboard would.
@Suite struct KeyboardLayoutTests {
    /// The text typed in `layout`, as a reader with the same keymap gets it.
    func roundTrip(_ text: String, _ layout: KeyboardLayoutName) throws -> String {
        let events = try KeyboardLayout(layout).events(typing: text)
        let reader = try KeymapReader(layout)
        for event in events { reader.read(event) }
        return reader.text
    }

    @Test func usTypesASCIIWithShift() throws {
        let text = "Hello, World! 1+1=2 {~`'\"|\\} <a_b>?\tend\n"
        #expect(try roundTrip(text, .us) == text)
        let layout = try KeyboardLayout(.us)
        #expect(layout.stroke(for: "A") == .init(key: UInt16(KEY_A), modifiers: [UInt16(KEY_LEFTSHIFT)]))
        #expect(layout.stroke(for: "a") == .init(key: UInt16(KEY_A), modifiers: []))
        // The main block's key, not the keypad's, though both type it.
        #expect(layout.stroke(for: "1") == .init(key: UInt16(KEY_1), modifiers: []))
        #expect(layout.stroke(for: "\n") == .init(key: UInt16(KEY_ENTER), modifiers: []))
    }

    @Test func germanTypesUmlautsAndAltGrCharacters() throws {
        let de = try KeyboardLayoutName(layout: "de")
        #expect(try roundTrip("äöü€@ÄÖÜß", de) == "äöü€@ÄÖÜß")
        let layout = try KeyboardLayout(de)
        // AltGr is right Alt, the key de makes ISO_Level3_Shift.
        #expect(layout.stroke(for: "@") == .init(key: UInt16(KEY_Q), modifiers: [UInt16(KEY_RIGHTALT)]))
        #expect(layout.stroke(for: "€") == .init(key: UInt16(KEY_E), modifiers: [UInt16(KEY_RIGHTALT)]))
        #expect(layout.stroke(for: "z") == .init(key: UInt16(KEY_Y), modifiers: []))
        #expect(layout.stroke(for: "ä") == .init(key: UInt16(KEY_APOSTROPHE), modifiers: []))
    }

    @Test func frenchTypesUmlautsWithItsDeadKeyAndAltGrCharacters() throws {
        let fr = try KeyboardLayoutName(layout: "fr")
        #expect(try roundTrip("äöü€@azerty", fr) == "äöü€@azerty")
        let layout = try KeyboardLayout(fr)
        #expect(layout.stroke(for: "€") == .init(key: UInt16(KEY_E), modifiers: [UInt16(KEY_RIGHTALT)]))
        #expect(layout.stroke(for: "@") == .init(key: UInt16(KEY_0), modifiers: [UInt16(KEY_RIGHTALT)]))
        #expect(layout.stroke(for: "é") == .init(key: UInt16(KEY_2), modifiers: []))
        #expect(try layout.events(typing: "hé€").count == 16)
        // ä has no key of its own on fr: dead_diaeresis (Shift and the key right of P), then a.
        #expect(layout.stroke(for: "ä") == nil)
        #expect(layout.strokes(for: "ä") == [
            .init(key: UInt16(KEY_LEFTBRACE), modifiers: [UInt16(KEY_LEFTSHIFT)]), .init(key: UInt16(KEY_Q), modifiers: []),
        ])
        // Two accents on one letter, or an accent on a letter it has no key for, are not typed.
        #expect(throws: KeyboardLayoutError.untypable(
            [.init(offset: 1, character: "\u{1D8}"), .init(offset: 2, character: "ж")], layout: fr)
        ) { try layout.events(typing: "a\u{1D8}ж") }
    }

    @Test func germanTypesAccentsWithItsDeadKeys() throws {
        let de = try KeyboardLayoutName(layout: "de")
        #expect(try roundTrip("éèâ", de) == "éèâ")
    }

    @Test func untypableCharactersAreListedWithPositionsAndNothingIsTyped() throws {
        let layout = try KeyboardLayout(.us)
        do {
            _ = try layout.events(typing: "äöü€@ ж")
            Issue.record("typed what us has no key for")
        } catch {
            guard case .untypable(let characters, let name) = error else { Issue.record("\(error)"); return }
            #expect(name == .us)
            #expect(characters.map(\.offset) == [0, 1, 2, 3, 6])
            #expect(characters.map(\.character) == ["ä", "ö", "ü", "€", "ж"])
            #expect(error.description.contains("'€' (U+20AC) at 3"), "\(error)")
        }
        // Control characters other than tab and new line are not text.
        #expect(throws: KeyboardLayoutError.untypable([.init(offset: 1, character: "\u{1B}")], layout: .us)) {
            try layout.events(typing: "a\u{1B}")
        }
    }

    @Test func decomposedCharactersAreTypedComposed() throws {
        let de = try KeyboardLayoutName(layout: "de")
        #expect(try roundTrip("a\u{0308}", de) == "ä")
    }

    @Test func eventsPressModifiersAroundTheKeyWithSYNAfterEach() throws {
        let layout = try KeyboardLayout(try KeyboardLayoutName(layout: "de"))
        let altGr = UInt16(KEY_RIGHTALT), q = UInt16(KEY_Q)
        #expect(try layout.events(typing: "@") == [
            .key(altGr, pressed: true), .syn(), .key(q, pressed: true), .syn(), .key(q, pressed: false), .syn(),
            .key(altGr, pressed: false), .syn(),
        ])
    }

    @Test func batchesStayUnderTheLimitAndNeverSplitACharacter() throws {
        let layout = try KeyboardLayout(try KeyboardLayoutName(layout: "de"))
        let text = String(repeating: "a€B", count: 20)
        let batches = try layout.batches(typing: text, maximumEvents: 32)
        #expect(batches.allSatisfy { $0.count <= 32 })
        #expect(batches.flatMap { $0 } == (try layout.events(typing: text)))
        // Every batch ends with every key up: a batch boundary falls between characters.
        for batch in batches {
            var down = Set<UInt16>()
            for event in batch where event.type == UInt16(EV_KEY) {
                if event.value == 1 { down.insert(event.code) } else { down.remove(event.code) }
            }
            #expect(down.isEmpty)
        }
    }

    @Test func aLayoutThatDoesNotCompileIsNamed() throws {
        let name = try KeyboardLayoutName(layout: "xx")
        do {
            _ = try KeyboardLayout(name)
            Issue.record("compiled layout xx")
        } catch {
            guard case .notCompiled(let failed, _) = error else { Issue.record("\(error)"); return }
            #expect(failed == name)
            #expect(error.description.hasPrefix("keyboard layout xx does not compile"), "\(error)")
        }
        #expect(throws: KeyboardLayoutError.self) { try KeyboardLayout(try KeyboardLayoutName(layout: "de", variant: "nosuchvariant")) }
    }

    @Test func namesAreXKBNamesNeverPaths() throws {
        #expect(throws: KeyboardLayoutError.invalidName(field: "layout", value: "../../etc/passwd")) {
            try KeyboardLayoutName(layout: "../../etc/passwd")
        }
        #expect(throws: KeyboardLayoutError.invalidName(field: "layout", value: "us,de")) { try KeyboardLayoutName(layout: "us,de") }
        #expect(throws: KeyboardLayoutError.invalidName(field: "layout", value: "")) { try KeyboardLayoutName(parsing: "") }
        #expect(throws: KeyboardLayoutError.invalidName(field: "variant", value: "a/b")) { try KeyboardLayoutName(parsing: "de,a/b") }
        let parsed = try KeyboardLayoutName(parsing: "de,nodeadkeys")
        #expect(parsed.layout == "de" && parsed.variant == "nodeadkeys")
        #expect(parsed.description == "de(nodeadkeys)")
        #expect(try KeyboardLayoutName(parsing: "de,").variant == nil)
        _ = try KeyboardLayout(parsed)
    }
}
