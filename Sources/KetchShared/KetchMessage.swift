/// The PDF's message catalog (Lease, Epoch and Replica categories) plus the few extra messages
/// Ketch needs (delete, switchover). Every message names the instance (replica) it concerns, the
/// server that sent it and the epoch it is about. A protocol refusal is a normal reply carrying
/// a `ProtocolRefusal`, never an error.
public enum KetchMessage: Hashable, Codable, Sendable {
    case leasePrepare(LeasePrepare)
    case leasePrepareReply(LeasePrepareReply)
    case leasePropose(LeasePropose)
    case leaseProposeReply(LeaseProposeReply)
    /// PaxosLease's release: the owner stopped using its lease (planned switchover).
    case leaseRelease(LeaseRelease)
    case leaseReleaseReply(EpochReply)
    case epochSetup(EpochSetup)
    case epochSetupReply(EpochReply)
    case epochOpen(EpochRequest)
    case epochOpenReply(EpochReply)
    case epochClose(EpochRequest)
    case epochCloseReply(EpochReply)
    case epochRevoke(EpochRevoke)
    case epochRevokeReply(EpochRevokeReply)
    case replicaCreate(ReplicaCreate)
    case replicaCreateReply(EpochReply)
    case replicaUpdateInSync(EpochRequest)
    case replicaUpdateInSyncReply(EpochReply)
    /// Not in the PDF: forget the replica everywhere (data is kept).
    case replicaDelete(EpochRequest)
    /// Not in the PDF: the primary of `epoch` asks the receiver to take over (planned switchover).
    case switchover(EpochRequest)
    /// Not in the PDF: a server whose copy is on a dead branch (its epoch was replaced while it
    /// was away) asks which epoch the replica is in now; `epoch` is the one it knows.
    case replicaQuery(EpochRequest)
    /// The answer of a server that knows a newer epoch: the epoch and who leads it (no spec).
    case replicaQueryReply(ReplicaCurrent)

    public var replica: ReplicaID { header.replica }
    public var source: ServerID { header.source }
    public var epoch: EpochID { header.epoch }

    private var header: (replica: ReplicaID, source: ServerID, epoch: EpochID) {
        switch self {
        case .leasePrepare(let m): (m.replica, m.source, m.epoch)
        case .leasePrepareReply(let m): (m.replica, m.source, m.epoch)
        case .leasePropose(let m): (m.replica, m.source, m.epoch)
        case .leaseProposeReply(let m): (m.replica, m.source, m.epoch)
        case .leaseRelease(let m): (m.replica, m.source, m.epoch)
        case .epochSetup(let m): (m.replica, m.source, m.epoch)
        case .epochRevoke(let m): (m.replica, m.source, m.epoch)
        case .epochRevokeReply(let m): (m.replica, m.source, m.epoch)
        case .replicaCreate(let m): (m.replica, m.source, m.epoch)
        case .replicaQueryReply(let m): (m.replica, m.source, m.epoch)
        case .epochOpen(let m), .epochClose(let m), .replicaUpdateInSync(let m), .replicaDelete(let m), .switchover(let m),
             .replicaQuery(let m):
            (m.replica, m.source, m.epoch)
        case .epochSetupReply(let m), .epochOpenReply(let m), .epochCloseReply(let m), .replicaCreateReply(let m),
             .replicaUpdateInSyncReply(let m), .leaseReleaseReply(let m):
            (m.replica, m.source, m.epoch)
        }
    }

    /// Short name for traces: `prepare`, `propose-reply`, ...
    public var kind: String {
        switch self {
        case .leasePrepare: "prepare"
        case .leasePrepareReply: "prepare-reply"
        case .leasePropose: "propose"
        case .leaseProposeReply: "propose-reply"
        case .leaseRelease: "release"
        case .leaseReleaseReply: "release-reply"
        case .epochSetup: "setup"
        case .epochSetupReply: "setup-reply"
        case .epochOpen: "open"
        case .epochOpenReply: "open-reply"
        case .epochClose: "close"
        case .epochCloseReply: "close-reply"
        case .epochRevoke: "revoke"
        case .epochRevokeReply: "revoke-reply"
        case .replicaCreate: "create"
        case .replicaCreateReply: "create-reply"
        case .replicaUpdateInSync: "in-sync"
        case .replicaUpdateInSyncReply: "in-sync-reply"
        case .replicaDelete: "delete"
        case .switchover: "switchover"
        case .replicaQuery: "query"
        case .replicaQueryReply: "query-reply"
        }
    }
}

/// Why an acceptor or replica declined a request. Stable raw values: they travel on the wire.
public enum ProtocolRefusal: String, Hashable, Codable, Sendable {
    /// The request's ballot is below the highest ballot already promised.
    case staleBallot = "stale-ballot"
    /// This server holds no state for that epoch (never set up, or replaced by a newer one).
    case unknownEpoch = "unknown-epoch"
    /// The epoch was revoked in favour of a different successor epoch.
    case revokedToOther = "revoked-to-other"
    /// The acceptor restarted with a new boot ID and waits out one full lease before voting.
    case rebooting
    /// Another server holds an unexpired lease on this epoch at this acceptor.
    case leaseHeldByOther = "lease-held-by-other"
    /// The epoch is closed and cannot be opened.
    case epochClosed = "epoch-closed"
    /// A newer epoch has already been set up here.
    case olderEpoch = "older-epoch"
    /// The requested lease duration exceeds what this acceptor is configured to grant.
    case durationTooLong = "duration-too-long"
    /// The receiver has no replica state matching the request.
    case unknownReplica = "unknown-replica"
}

/// Lease · Prepare · Request (replica → acceptor).
public struct LeasePrepare: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var ballot: Ballot
    /// The successor epoch the proposer acts for; nil when leasing the epoch for itself.
    public var successor: EpochID?
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, ballot: Ballot, successor: EpochID?) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.ballot = ballot; self.successor = successor
    }
}

/// Lease · Prepare · Response (acceptor → replica).
public struct LeasePrepareReply: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var ballot: Ballot
    public var highestPromised: Ballot
    /// Owner of an accepted proposal that has not yet expired at this acceptor, if any.
    public var acceptedOwner: ServerID?
    /// Time left on that proposal on the acceptor's clock (a duration, never an instant).
    public var acceptedRemaining: Span?
    public var refusal: ProtocolRefusal?
    /// With `revokedToOther`: the successor the epoch was revoked to, so a stale copy knows whom
    /// to follow (a successor's ID names the server that created it, its primary).
    public var successor: EpochID?
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, ballot: Ballot, highestPromised: Ballot,
                acceptedOwner: ServerID? = nil, acceptedRemaining: Span? = nil, refusal: ProtocolRefusal? = nil, successor: EpochID? = nil) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.ballot = ballot
        self.highestPromised = highestPromised; self.acceptedOwner = acceptedOwner
        self.acceptedRemaining = acceptedRemaining; self.refusal = refusal; self.successor = successor
    }
}

/// Lease · Propose · Request (replica → acceptor). `timeout` is a duration measured by the
/// acceptor on its own clock from the moment it accepts.
public struct LeasePropose: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var ballot: Ballot
    public var owner: ServerID
    public var timeout: Span
    public var successor: EpochID?
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, ballot: Ballot, owner: ServerID, timeout: Span, successor: EpochID?) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.ballot = ballot
        self.owner = owner; self.timeout = timeout; self.successor = successor
    }
}

/// Lease · Propose · Response (acceptor → replica), carrying the epoch's state (Step 3).
public struct LeaseProposeReply: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var ballot: Ballot
    public var epochState: EpochState?
    public var refusal: ProtocolRefusal?
    /// With `revokedToOther`: the successor the epoch was revoked to (see `LeasePrepareReply`).
    public var successor: EpochID?
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, ballot: Ballot, epochState: EpochState?, refusal: ProtocolRefusal? = nil,
                successor: EpochID? = nil) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.ballot = ballot
        self.epochState = epochState; self.refusal = refusal; self.successor = successor
    }
}

/// Lease · Release (an addition from PaxosLease, not in the PDF's catalog): the lease owner has
/// stopped using its lease of `epoch` (its database is fenced) and asks the acceptor to drop its
/// accepted proposals with a ballot up to `ballot`, so the next proposer is granted at once
/// instead of after the grant runs out. A later proposal of the same owner is not touched.
public struct LeaseRelease: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var ballot: Ballot
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, ballot: Ballot) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.ballot = ballot
    }
}

/// Epoch · Open/Close request, Replica · UpdateInSync request, and the extra delete/switchover.
public struct EpochRequest: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID) {
        self.replica = replica; self.source = source; self.epoch = epoch
    }
}

/// Epoch · Setup · Request. `prior` (an addition to the PDF) names the epoch this one succeeds,
/// so the acceptor keeps that epoch's lease state instead of dropping it.
public struct EpochSetup: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var prior: EpochID?
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, prior: EpochID?) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.prior = prior
    }
}

/// The response to Setup, Open, Close, Create, UpdateInSync and Release.
public struct EpochReply: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var refusal: ProtocolRefusal?
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, refusal: ProtocolRefusal? = nil) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.refusal = refusal
    }
}

/// Epoch · Revoke · Request.
public struct EpochRevoke: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var successor: EpochID
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, successor: EpochID) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.successor = successor
    }
}

/// Epoch · Revoke · Response.
public struct EpochRevokeReply: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var successor: EpochID
    public var refusal: ProtocolRefusal?
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, successor: EpochID, refusal: ProtocolRefusal? = nil) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.successor = successor; self.refusal = refusal
    }
}

/// Replica · Create · Request: the epoch metadata every member persists (PDF, Replica
/// Management) plus what a member needs to configure its copy. The sender is the primary that
/// members stream from.
/// Which epoch a replica is in, as a server outside it needs to know to stop calling itself
/// primary of a replaced epoch and to follow the copy that serves. Carries no spec or password.
public struct ReplicaCurrent: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var primary: ServerID
    public var quorumGroup: [ServerID]
    public var dataQuorum: [ServerID]
    public var asyncMembers: [ServerID]
    /// Step 9 completed: the primary may serve.
    public var open: Bool
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, primary: ServerID, quorumGroup: [ServerID],
                dataQuorum: [ServerID], asyncMembers: [ServerID], open: Bool) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.primary = primary
        self.quorumGroup = quorumGroup; self.dataQuorum = dataQuorum; self.asyncMembers = asyncMembers; self.open = open
    }
}

public struct ReplicaCreate: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var source: ServerID
    public var epoch: EpochID
    public var quorumGroup: [ServerID]
    public var dataQuorum: [ServerID]
    public var asyncMembers: [ServerID]
    public var priorEpoch: EpochID?
    public var priorQuorumGroup: [ServerID]
    public var spec: ReplicaSpec
    public init(replica: ReplicaID, source: ServerID, epoch: EpochID, quorumGroup: [ServerID], dataQuorum: [ServerID],
                asyncMembers: [ServerID], priorEpoch: EpochID?, priorQuorumGroup: [ServerID], spec: ReplicaSpec) {
        self.replica = replica; self.source = source; self.epoch = epoch; self.quorumGroup = quorumGroup
        self.dataQuorum = dataQuorum; self.asyncMembers = asyncMembers; self.priorEpoch = priorEpoch
        self.priorQuorumGroup = priorQuorumGroup; self.spec = spec
    }
}
