import KetchShared

/// Timings of the SWIM failure detector. The defaults are chosen so that, with four members,
/// a crashed or paused member is declared dead by everyone within two seconds:
/// at most one `probeInterval` until someone probes it, one more until its probe period ends
/// unanswered (direct then indirect), then `suspicionTimeout`, then one gossip round.
public struct MembershipConfig: Sendable, Equatable {
    /// Length of one SWIM protocol period: one member is probed per period.
    public var probeInterval: Span
    /// How long to wait for a direct ack before asking others to probe indirectly.
    public var probeTimeout: Span
    /// How many other members are asked to probe indirectly (SWIM's *k*).
    public var indirectProbeCount: Int
    /// How long a member stays suspect, unrefuted, before it is declared dead.
    public var suspicionTimeout: Span
    /// Upper bound on membership records piggybacked on one message.
    public var maxPiggyback: Int

    public init(probeInterval: Span = .milliseconds(200), probeTimeout: Span = .milliseconds(100),
                indirectProbeCount: Int = 2, suspicionTimeout: Span = .milliseconds(800), maxPiggyback: Int = 16) {
        self.probeInterval = probeInterval
        self.probeTimeout = probeTimeout
        self.indirectProbeCount = indirectProbeCount
        self.suspicionTimeout = suspicionTimeout
        self.maxPiggyback = maxPiggyback
    }
}

/// A health transition of one member, as seen by this server.
public struct MemberChange: Hashable, Sendable, CustomStringConvertible {
    public var server: ServerID
    public var name: String
    /// nil when the member was not known before.
    public var from: MemberHealth?
    public var to: MemberHealth
    public var incarnation: UInt64
    public var description: String {
        "member \(name) (\(server.short)) \(from.map { "\($0.rawValue) -> " } ?? "joined as ")\(to.rawValue) at incarnation \(incarnation)"
    }
}

/// What one membership step asks the driver to do: send these probes, and know these changes.
public struct MembershipOutput: Sendable {
    public var sends: [(to: Endpoint, message: MembershipMessage)] = []
    public var changes: [MemberChange] = []
    public init() {}
    public var isEmpty: Bool { sends.isEmpty && changes.isEmpty }
}

/// A small deterministic generator (SplitMix64): the core takes randomness only as a seed.
struct SplitMix64: Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(below n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, next(below: i + 1)) }
    }
}
