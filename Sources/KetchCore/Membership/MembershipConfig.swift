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
