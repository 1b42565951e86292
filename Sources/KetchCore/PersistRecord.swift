import KetchShared

/// One durable fact. The node stores each under `key` (replacing the previous value, or deleting
/// it for `replicaRemoved`) and hands all of them back to `KetchCore(config:bootID:restoring:)`.
public enum PersistRecord: Hashable, Codable, Sendable {
    case replica(ReplicaRecord)
    case replicaRemoved(ReplicaID)
    case acceptor(AcceptorRecord)
    case counters(Counters)
    case boot(BootRecord)

    public var key: String {
        switch self {
        case .replica(let r): "replica/\(r.replica.rawValue)"
        case .replicaRemoved(let r): "replica/\(r.rawValue)"
        case .acceptor(let a): "acceptor/\(a.replica.rawValue)"
        case .counters: "counters"
        case .boot: "boot"
        }
    }

    /// The replica this record belongs to; nil for the server-wide ones (counters, boot), which
    /// every later message may rest on.
    public var replica: ReplicaID? {
        switch self {
        case .replica(let r): r.replica
        case .replicaRemoved(let r): r
        case .acceptor(let a): a.replica
        case .counters, .boot: nil
        }
    }

    /// True when the node should delete `key` (and the acceptor key of the same replica).
    public var isRemoval: Bool { if case .replicaRemoved = self { true } else { false } }
}

/// Sequences that must never repeat on this server.
public struct Counters: Hashable, Codable, Sendable {
    /// Ballots up to this sequence may have been used; a restarted server starts above it.
    public var ballotReserved: UInt64
    /// Highest epoch sequence this server has used or seen.
    public var epochSequence: UInt64
    public init(ballotReserved: UInt64 = 0, epochSequence: UInt64 = 0) {
        self.ballotReserved = ballotReserved; self.epochSequence = epochSequence
    }
}

/// The boot this state was written under. Instants from another boot are meaningless, so after
/// a reboot the acceptor forgets its grants and stays quiet until `quietUntil`.
public struct BootRecord: Hashable, Codable, Sendable {
    public var bootID: String
    public var quietUntil: Instant
    public init(bootID: String, quietUntil: Instant) { self.bootID = bootID; self.quietUntil = quietUntil }
}

/// Epoch metadata kept with each copy of the data (the PDF's Replica Management state).
public struct EpochInfo: Hashable, Codable, Sendable {
    public var id: EpochID
    public var quorumGroup: [ServerID]
    public var dataQuorum: [ServerID]
    public var asyncMembers: [ServerID]
    public init(id: EpochID, quorumGroup: [ServerID], dataQuorum: [ServerID], asyncMembers: [ServerID] = []) {
        self.id = id; self.quorumGroup = quorumGroup; self.dataQuorum = dataQuorum; self.asyncMembers = asyncMembers
    }

    public var quorum: Int { quorumGroup.count / 2 + 1 }

    public func role(of s: ServerID, primary: ServerID?) -> MemberRole {
        if s == primary { return .primary }
        if dataQuorum.contains(s) { return .sync }
        if asyncMembers.contains(s) { return .async }
        if quorumGroup.contains(s) { return .witness }
        return .spare
    }
}

/// The persisted state of one replica on this server.
public struct ReplicaRecord: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var spec: ReplicaSpec
    public var epoch: EpochInfo
    /// Set until the prior epoch is revoked (Step 8); only its ID and quorum group matter.
    public var prior: EpochInfo?
    /// The server that runs the epoch's steps and whose Postgres is the primary.
    public var primary: ServerID
    /// This copy with respect to the data quorum.
    public var dataState: DataState
    /// The other data-quorum members, as far as this server knows.
    public var peerState: DataState
    /// Step 9 completed for `epoch`.
    public var epochOpen: Bool
    /// This server holds a copy of the data (witnesses do not).
    public var hasData: Bool
    /// An acceptor told us the epoch was revoked to another successor or replaced: the record
    /// is a dead branch and the next Replica Create is accepted whatever its epoch number.
    public var superseded: Bool = false

    public init(replica: ReplicaID, spec: ReplicaSpec, epoch: EpochInfo, prior: EpochInfo?, primary: ServerID,
                dataState: DataState, peerState: DataState, epochOpen: Bool, hasData: Bool) {
        self.replica = replica; self.spec = spec; self.epoch = epoch; self.prior = prior; self.primary = primary
        self.dataState = dataState; self.peerState = peerState; self.epochOpen = epochOpen; self.hasData = hasData
    }
}
