import DeviceManager

/// `POST /v1/leases/{id}/text`: text typed on the lease's keyboard in an XKB layout
/// (`{"text": "äöü€@", "layout": "de"}`). Every character is checked before any is typed:
/// a layout that does not compile is a 400 naming it, characters it has no key for a 422 listing them.
public struct TextRequest: Codable, Sendable {
    public var text: String
    /// An XKB layout name (`de`, `fr`); `us` when absent.
    public var layout: String?
    /// The layout's variant (`nodeadkeys`).
    public var variant: String?
    /// XKB options (`lv3:ralt_switch`), comma-separated.
    public var options: String?

    /// The most characters one request types: about 12 events each, in batches the reader must keep up with.
    public static let maximumCharacters = 4096

    public init(text: String, layout: KeyboardLayoutName = .us) {
        self.text = text
        self.layout = layout.layout
        variant = layout.variant
        options = layout.options
    }

    /// The layout the request names.
    public func layoutName() throws(KeyboardLayoutError) -> KeyboardLayoutName {
        try KeyboardLayoutName(layout: layout ?? KeyboardLayoutName.us.layout, variant: variant, options: options)
    }
}

/// What `POST /v1/leases/{id}/text` typed.
public struct TextResponse: Codable, Sendable {
    public var characters: Int
    public var events: Int

    public init(characters: Int, events: Int) {
        self.characters = characters
        self.events = events
    }
}
