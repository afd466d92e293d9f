/// How a lease names one of its devices: its role, numbered from the second of a kind
/// (`gamepad`, `gamepad-2`, `dualsense-3`). It is the last part of the device's phys, its udev
/// link's name and what hot-plug and injection address; a lease's first device of each role is
/// named by the role alone, as before several of a kind were possible.
public struct DeviceHandle: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let role: DeviceRole
    /// 1 for the first device of its role in the lease.
    public let number: Int

    /// Game controllers a lease may hold at most, of every kind together.
    public static let maximumGamepads = 8

    public init(_ role: DeviceRole, number: Int = 1) {
        self.role = role
        self.number = number
    }

    /// `gamepad`, `gamepad-2`.
    public var description: String { number == 1 ? role.rawValue : "\(role.rawValue)-\(number)" }

    /// Reads `gamepad`, `gamepad-2`, `switch-pro-3`; nil for anything else (a role that is not one,
    /// a number below 2 or past `maximumGamepads`, a number on a role that has one device only).
    public init?(_ text: String) {
        if let role = DeviceRole(rawValue: text) {
            self.init(role)
            return
        }
        guard let dash = text.lastIndex(of: "-"), let role = DeviceRole(rawValue: String(text[..<dash])), role.isGamepad,
              let number = Int(text[text.index(after: dash)...]), (2...Self.maximumGamepads).contains(number),
              String(number) == text[text.index(after: dash)...] else { return nil }
        self.init(role, number: number)
    }

    /// The handles for `roles` in order: each role's devices numbered 1, 2, ..., counting on from
    /// `existing` (a lease's devices so far).
    public static func assign(_ roles: [DeviceRole], after existing: [DeviceHandle] = []) -> [DeviceHandle] {
        var counts: [DeviceRole: Int] = [:]
        for handle in existing { counts[handle.role] = max(counts[handle.role] ?? 0, handle.number) }
        return roles.map { role in
            let number = (counts[role] ?? 0) + 1
            counts[role] = number
            return DeviceHandle(role, number: number)
        }
    }

    public static func < (a: DeviceHandle, b: DeviceHandle) -> Bool { (a.role.rawValue, a.number) < (b.role.rawValue, b.number) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let handle = DeviceHandle(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' names no device of a lease"))
        }
        self = handle
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
