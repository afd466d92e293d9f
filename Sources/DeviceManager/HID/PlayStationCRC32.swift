/// The CRC-32 Sony's pads append to Bluetooth reports: the IEEE CRC-32 (zlib's) of a seed byte
/// followed by the report's bytes. hid-playstation checks it on Bluetooth feature and input
/// reports; over USB no report carries one, but ours do, so the same bytes serve both.
public enum PlayStationCRC32 {
    /// Seed of input reports (0xA1), output reports (0xA2) and feature reports (0xA3).
    public static let inputSeed: UInt8 = 0xA1
    public static let outputSeed: UInt8 = 0xA2
    public static let featureSeed: UInt8 = 0xA3

    /// CRC-32 of `seed` then `bytes`.
    public static func checksum(seed: UInt8, _ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = update(0xFFFF_FFFF, seed)
        for byte in bytes { crc = update(crc, byte) }
        return ~crc
    }

    /// The IEEE CRC-32 of `bytes` alone (the check value of "123456789" is 0xCBF43926).
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = update(crc, byte) }
        return ~crc
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1 }
        return value
    }

    private static func update(_ crc: UInt32, _ byte: UInt8) -> UInt32 {
        table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
    }
}
