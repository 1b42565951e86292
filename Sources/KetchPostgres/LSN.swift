/// A WAL position, Postgres's `pg_lsn` (`"16/B374D848"`): two 32-bit hex halves.
public struct LSN: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...8).contains(parts[0].count), (1...8).contains(parts[1].count),
              let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16) else { return nil }
        value = high << 32 | low
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let lsn = LSN(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an LSN like 0/3000060")
        }
        self = lsn
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public static func < (a: LSN, b: LSN) -> Bool { a.value < b.value }

    /// Bytes from `other` up to `self`; 0 when `other` is ahead.
    public func bytes(since other: LSN) -> Int64 {
        value > other.value ? Int64(clamping: value - other.value) : 0
    }

    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }
}
