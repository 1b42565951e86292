/// What one member knows of another, as shown on the feed and in `get server`.
public struct MemberStatus: Hashable, Codable, Sendable {
    public var server: ServerID
    public var name: String
    public var endpoint: Endpoint
    public var apiEndpoint: Endpoint
    public var health: MemberHealth
    public var incarnation: UInt64
    /// Milliseconds since this member last heard from that one directly or indirectly; nil for itself.
    public var lastHeardMs: Int64?
    public init(server: ServerID, name: String, endpoint: Endpoint, apiEndpoint: Endpoint, health: MemberHealth, incarnation: UInt64, lastHeardMs: Int64?) {
        self.server = server; self.name = name; self.endpoint = endpoint; self.apiEndpoint = apiEndpoint
        self.health = health; self.incarnation = incarnation; self.lastHeardMs = lastHeardMs
    }
}

public enum EpochState: String, Codable, Sendable, Comparable, CaseIterable {
    case new, open, closed
    private var rank: Int { switch self { case .new: 0; case .open: 1; case .closed: 2 } }
    /// States only move forward: new → open → closed.
    public static func < (a: EpochState, b: EpochState) -> Bool { a.rank < b.rank }
}

/// A member's role within a replica's quorum group.
public enum MemberRole: String, Codable, Sendable, CaseIterable {
    case primary, sync, async, witness, spare
}

/// The PDF's replica data state with respect to the data quorum.
public enum DataState: String, Codable, Sendable, CaseIterable {
    case inSync = "in-sync"
    case catchUp = "catch-up"
}

public struct EpochStatus: Hashable, Codable, Sendable {
    public var id: EpochID
    public var state: EpochState
    public var quorumGroup: [ServerID]
    public var dataQuorum: [ServerID]
    public var successor: EpochID?
    public init(id: EpochID, state: EpochState, quorumGroup: [ServerID], dataQuorum: [ServerID], successor: EpochID? = nil) {
        self.id = id; self.state = state; self.quorumGroup = quorumGroup; self.dataQuorum = dataQuorum; self.successor = successor
    }
}

public struct LeaseStatus: Hashable, Codable, Sendable {
    public var epoch: EpochID
    public var holder: ServerID?
    /// Remaining lease time as seen by the reporting server; 0 when expired.
    public var remainingMs: Int64
    public var durationMs: Int64
    public var ballot: Ballot?
    public init(epoch: EpochID, holder: ServerID?, remainingMs: Int64, durationMs: Int64, ballot: Ballot?) {
        self.epoch = epoch; self.holder = holder; self.remainingMs = remainingMs; self.durationMs = durationMs; self.ballot = ballot
    }
}

/// Postgres as the reporting server sees its own copy.
public struct PostgresStatus: Hashable, Codable, Sendable {
    /// e.g. `stopped`, `starting`, `primary`, `standby`, `fenced`, `cloning`, `failed`.
    public var state: String
    public var port: Int?
    public var lsn: String?
    public var replayLSN: String?
    public var lagBytes: Int64?
    public var lagSeconds: Double?
    /// Postgres's own error line when it failed.
    public var error: String?
    public init(state: String, port: Int? = nil, lsn: String? = nil, replayLSN: String? = nil, lagBytes: Int64? = nil, lagSeconds: Double? = nil, error: String? = nil) {
        self.state = state; self.port = port; self.lsn = lsn; self.replayLSN = replayLSN
        self.lagBytes = lagBytes; self.lagSeconds = lagSeconds; self.error = error
    }
}

public struct ReplicaMemberStatus: Hashable, Codable, Sendable {
    public var server: ServerID
    public var role: MemberRole
    public var dataState: DataState?
    public var postgres: PostgresStatus?
    public init(server: ServerID, role: MemberRole, dataState: DataState?, postgres: PostgresStatus?) {
        self.server = server; self.role = role; self.dataState = dataState; self.postgres = postgres
    }
}

/// One database as the reporting server sees it. Carries no password.
public struct ReplicaStatus: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var name: String
    public var quorumGroupSize: Int
    public var port: Int
    public var closedPort: Int
    public var primary: ServerID?
    public var epoch: EpochStatus?
    public var priorEpoch: EpochStatus?
    public var lease: LeaseStatus?
    public var members: [ReplicaMemberStatus]
    /// True when the reporter's copy is on a dead branch: its epoch was replaced while it was
    /// away, and what it says of epoch and primary is its last knowledge, not the replica's
    /// state. Absent (nil) otherwise, and from reporters that predate the field.
    public var stale: Bool?
    public init(replica: ReplicaID, name: String, quorumGroupSize: Int, port: Int, closedPort: Int, primary: ServerID?, epoch: EpochStatus?, priorEpoch: EpochStatus?, lease: LeaseStatus?, members: [ReplicaMemberStatus], stale: Bool? = nil) {
        self.replica = replica; self.name = name; self.quorumGroupSize = quorumGroupSize; self.port = port; self.closedPort = closedPort
        self.primary = primary; self.epoch = epoch; self.priorEpoch = priorEpoch; self.lease = lease; self.members = members
        self.stale = stale
    }
}

public enum ClusterEventKind: String, Codable, Sendable, CaseIterable {
    case membership, epoch, lease, failover, switchover, replica, postgres, error
}

/// Something worth showing in the console's event pane.
public struct ClusterEvent: Hashable, Codable, Sendable {
    /// Wall-clock milliseconds since 1970 on the reporting server (for display only).
    public var atUnixMs: Int64
    public var kind: ClusterEventKind
    public var replica: ReplicaID?
    public var text: String
    public init(atUnixMs: Int64, kind: ClusterEventKind, replica: ReplicaID?, text: String) {
        self.atUnixMs = atUnixMs; self.kind = kind; self.replica = replica; self.text = text
    }
}

/// Everything one member reports on its feed.
public struct NodeStatus: Hashable, Codable, Sendable {
    public var server: ServerID
    public var name: String
    public var members: [MemberStatus]
    public var replicas: [ReplicaStatus]
    /// Most recent events, oldest first (bounded).
    public var events: [ClusterEvent]
    public init(server: ServerID, name: String, members: [MemberStatus], replicas: [ReplicaStatus], events: [ClusterEvent]) {
        self.server = server; self.name = name; self.members = members; self.replicas = replicas; self.events = events
    }
}
