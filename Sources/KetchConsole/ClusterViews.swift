import KetchShared

/// One member as the console shows it: merged from every reporter's membership table and from
/// the console's own link to that member's feed.
public struct MemberView: Hashable, Sendable {
    /// Nil until some reporter has told us the member's ID (a configured member we never reached).
    public var server: ServerID?
    public var name: String
    public var address: String
    /// The verdict most reachable reporters give; ties go to the worse verdict.
    public var health: MemberHealth?
    /// How many reachable reporters gave a verdict, and how many agreed with `health`.
    public var votes: Int
    public var agreeing: Int
    /// The console's own link to this member's feed, nil when the member is not one we follow.
    public var link: ReporterLink?
    public var lastHeard: Instant?
    /// Databases this member holds a copy of (or votes for), with its role in each.
    public var holdings: [Holding]

    public struct Holding: Hashable, Sendable {
        public var database: String
        public var role: MemberRole
        public var dataState: DataState?
    }
}

/// One database member merged from the reports: the role from the best view of the epoch, the
/// Postgres state from that member's own report when we have it.
public struct DatabaseMemberView: Hashable, Sendable {
    public var server: ServerID
    public var name: String
    public var role: MemberRole
    public var dataState: DataState?
    public var postgres: PostgresStatus?
    /// True when the Postgres state came from the member itself rather than from a peer.
    public var selfReported: Bool
    /// False when the console cannot currently hear from this member.
    public var reachable: Bool
}

/// One database merged from every member that reports it.
public struct DatabaseView: Hashable, Sendable {
    public var replica: ReplicaID
    public var name: String
    public var quorumGroupSize: Int
    public var port: Int
    public var closedPort: Int
    public var primary: ServerID?
    public var epoch: EpochStatus?
    public var priorEpoch: EpochStatus?
    public var lease: LeaseStatus?
    /// When the lease figure was received, so its remaining time can be aged until the next report.
    public var leaseReceivedAt: Instant?
    public var members: [DatabaseMemberView]
    /// Reachable reporters that disagree with the chosen view about the primary or epoch.
    public var disagreeing: [String]
    /// True when no reachable member reports this database any more (data may be stale).
    public var stale: Bool

    /// The largest lag among standbys, for the overview's lag column and colour.
    public var worstLag: (bytes: Int64, seconds: Double)? {
        var worst: (Int64, Double)?
        for m in members where m.role != .primary && m.role != .witness {
            guard let pg = m.postgres, pg.lagBytes != nil || pg.lagSeconds != nil else { continue }
            let b = pg.lagBytes ?? 0, s = pg.lagSeconds ?? 0
            if let w = worst { worst = (max(w.0, b), max(w.1, s)) } else { worst = (b, s) }
        }
        return worst.map { (bytes: $0.0, seconds: $0.1) }
    }

    /// Remaining lease in ms at `now`, aged from the moment the report arrived.
    public func leaseRemainingMs(at now: Instant) -> Int64? {
        guard let lease else { return nil }
        let aged = leaseReceivedAt.map { (now - $0).milliseconds } ?? 0
        // A non-positive remainder from the wire stays 0 (and cannot overflow when aged).
        return lease.remainingMs <= 0 ? 0 : max(0, lease.remainingMs - max(0, aged))
    }

    /// In-sync members other than the primary: the failover targets the console offers.
    public var failoverTargets: [DatabaseMemberView] {
        members.filter { $0.server != primary && $0.role != .primary && $0.role != .witness && $0.role != .spare && $0.dataState == .inSync }
    }
}

/// One line of the event pane.
public struct EventEntry: Hashable, Sendable {
    public var atUnixMs: Int64
    public var kind: ClusterEventKind
    public var replica: ReplicaID?
    public var text: String
    /// Who reported it: a member name, or `console` for what the console saw itself.
    public var source: String
}
