/// SWIM health of a member as one server sees it.
public enum MemberHealth: String, Codable, Sendable, Comparable, CaseIterable {
    case alive, suspect, dead
    /// Order used when two updates carry the same incarnation: a worse verdict wins (SWIM §4.2).
    private var rank: Int { switch self { case .alive: 0; case .suspect: 1; case .dead: 2 } }
    public static func < (a: MemberHealth, b: MemberHealth) -> Bool { a.rank < b.rank }
}

/// One piggybacked membership fact: "server S, at incarnation I, is H".
public struct MemberUpdate: Hashable, Codable, Sendable {
    public var server: ServerID
    public var name: String
    /// Member (peer) endpoint.
    public var endpoint: Endpoint
    /// Client API endpoint, so consoles can find every member from any one of them.
    public var apiEndpoint: Endpoint
    public var incarnation: UInt64
    public var health: MemberHealth
    public init(server: ServerID, name: String, endpoint: Endpoint, apiEndpoint: Endpoint, incarnation: UInt64, health: MemberHealth) {
        self.server = server; self.name = name; self.endpoint = endpoint; self.apiEndpoint = apiEndpoint
        self.incarnation = incarnation; self.health = health
    }
}

/// SWIM's three messages plus the relayed acknowledgement of an indirect probe.
public enum MembershipMessage: Hashable, Codable, Sendable {
    /// Direct probe. `updates` always includes the sender's own record first.
    case ping(sequence: UInt64, updates: [MemberUpdate])
    case ack(sequence: UInt64, updates: [MemberUpdate])
    /// Ask the receiver to probe `target` on the sender's behalf.
    case pingRequest(sequence: UInt64, target: ServerID, updates: [MemberUpdate])
    /// The receiver of a `pingRequest` got an ack from `target` and relays it.
    case indirectAck(sequence: UInt64, target: ServerID, updates: [MemberUpdate])
}
