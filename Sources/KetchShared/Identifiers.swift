/// Identity of one Ketch server; a UUID string chosen once and kept in `ketch.db`.
public struct ServerID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(rawValue) }
    public static func < (a: ServerID, b: ServerID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { rawValue }
    /// First eight characters, enough to tell servers apart on a screen.
    public var short: String { String(rawValue.prefix(8)) }
}

/// The PDF's *instance ID*: identifies one managed data set (one database) across all its copies.
public struct ReplicaID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(rawValue) }
    public static func < (a: ReplicaID, b: ReplicaID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { rawValue }
    public var short: String { String(rawValue.prefix(8)) }
}

/// Globally unique epoch identifier: the PDF's Step 1 suggests "a vector of the local server ID
/// and a sequence number", which is exactly this. Encoded as `"<sequence>@<server>"`.
public struct EpochID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let sequence: UInt64
    public let server: ServerID
    public init(sequence: UInt64, server: ServerID) { self.sequence = sequence; self.server = server }
    public init?(string: String) {
        guard let at = string.firstIndex(of: "@"), let seq = UInt64(string[..<at]) else { return nil }
        let server = String(string[string.index(after: at)...])
        guard !server.isEmpty else { return nil }
        self.init(sequence: seq, server: ServerID(server))
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let id = EpochID(string: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "epoch id '\(s)' is not '<sequence>@<server-id>'")
        }
        self = id
    }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
    public static func < (a: EpochID, b: EpochID) -> Bool { (a.sequence, a.server) < (b.sequence, b.server) }
    public var description: String { "\(sequence)@\(server.rawValue)" }
    public var short: String { "\(sequence)@\(server.short)" }
}

/// A Paxos-Lease ballot number: a persisted per-server sequence, ties broken by server ID so that
/// two proposers never use the same ballot.
public struct Ballot: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let sequence: UInt64
    public let server: ServerID
    public init(sequence: UInt64, server: ServerID) { self.sequence = sequence; self.server = server }
    public static let zero = Ballot(sequence: 0, server: ServerID(""))
    public static func < (a: Ballot, b: Ballot) -> Bool { (a.sequence, a.server) < (b.sequence, b.server) }
    public var description: String { "\(sequence).\(server.short)" }
}

/// A point on a monotonic clock that keeps counting while the process is stopped
/// (`CLOCK_BOOTTIME`), in nanoseconds. Only meaningful on the server that read it: instants are
/// never sent between servers; lease messages carry durations instead.
public struct Instant: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static let zero = Instant(nanoseconds: 0)
    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: Instant, b: Span) -> Instant { Instant(nanoseconds: a.nanoseconds &+ b.nanoseconds) }
    public static func - (a: Instant, b: Span) -> Instant { Instant(nanoseconds: a.nanoseconds &- b.nanoseconds) }
    public static func - (a: Instant, b: Instant) -> Span { Span(nanoseconds: a.nanoseconds &- b.nanoseconds) }
    public var description: String { "t+\(nanoseconds / 1_000_000)ms" }
}

/// A length of time in nanoseconds. Cheaper than `Swift.Duration` in the core's hot path and
/// trivially codable.
public struct Span: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static func milliseconds(_ ms: Int64) -> Span { Span(nanoseconds: ms * 1_000_000) }
    public static func seconds(_ s: Int64) -> Span { Span(nanoseconds: s * 1_000_000_000) }
    public static let zero = Span(nanoseconds: 0)
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
    public static func < (a: Span, b: Span) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: Span, b: Span) -> Span { Span(nanoseconds: a.nanoseconds &+ b.nanoseconds) }
    public static func - (a: Span, b: Span) -> Span { Span(nanoseconds: a.nanoseconds &- b.nanoseconds) }
    public static func * (a: Span, k: Int64) -> Span { Span(nanoseconds: a.nanoseconds &* k) }
    public static func / (a: Span, k: Int64) -> Span { Span(nanoseconds: a.nanoseconds / k) }
    public var description: String { "\(milliseconds)ms" }
}

/// Where a server listens: the seed's `endpoint: {addr, port}`.
public struct Endpoint: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var addr: String
    public var port: Int
    public init(addr: String, port: Int) { self.addr = addr; self.port = port }
    public static func < (a: Endpoint, b: Endpoint) -> Bool { (a.addr, a.port) < (b.addr, b.port) }
    public var description: String { "\(addr):\(port)" }
}
