/// The identity of one session: names its devices (`phys`), its directories and its container.
///
/// Either generated from the kernel's CSPRNG (128 bits, 32 lowercase hex digits) or supplied by the
/// caller and then held to a pattern that is safe as a path component, a udev property value,
/// a Docker container name and a uinput `phys` string: 1 to 48 characters of `[a-z0-9]`, `-` and `_`,
/// starting with a letter or digit.
public struct FractalID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The validated text of the ID.
    public let rawValue: String

    /// The longest ID accepted: keeps `fractal/<ID>/<role>` (20 bytes besides the ID for the
    /// longest role) inside the 79 bytes of `phys` the device layer allows.
    public static let maximumLength = 48

    /// Validates a caller-supplied ID.
    public init(_ text: String) throws(FractalIDError) {
        guard !text.isEmpty else { throw .empty }
        guard text.utf8.count <= Self.maximumLength else { throw .tooLong(text, limit: Self.maximumLength) }
        for (index, byte) in text.utf8.enumerated() {
            let isLower = byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            let isSeparator = byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            guard isLower || isDigit || (isSeparator && index > 0) else {
                throw .invalidCharacter(text, position: index)
            }
        }
        rawValue = text
    }

    /// A fresh random ID: 128 bits from the system CSPRNG (`getrandom(2)` under
    /// `SystemRandomNumberGenerator`), as 32 lowercase hex digits.
    public static func random() -> FractalID {
        var generator = SystemRandomNumberGenerator()
        let high: UInt64 = generator.next()
        let low: UInt64 = generator.next()
        func hex(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return FractalID(unchecked: hex(high) + hex(low))
    }

    private init(unchecked: String) { rawValue = unchecked }

    public var description: String { rawValue }

    public static func < (lhs: FractalID, rhs: FractalID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Why a supplied FractalID was refused.
public enum FractalIDError: Error, Equatable, CustomStringConvertible {
    case empty
    case tooLong(String, limit: Int)
    case invalidCharacter(String, position: Int)

    public var description: String {
        switch self {
        case .empty:
            return "FractalID is empty"
        case .tooLong(let text, let limit):
            return "FractalID '\(text.prefix(80))' is \(text.utf8.count) bytes; at most \(limit) are allowed"
        case .invalidCharacter(let text, let position):
            return "FractalID '\(text.prefix(80))' has a character not allowed at byte \(position): use lowercase letters, digits, '-' and '_', starting with a letter or digit"
        }
    }
}
