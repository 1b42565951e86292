import KetchShared

/// Progress of the reconfiguration towards `epoch`: who has answered which request. Volatile:
/// after a restart the questions find the right step again from the persisted record.
struct Progress {
    var epoch: EpochID
    var priorClosed = false
    var replicated = false
    /// Step 9 completed in this process while holding the lease.
    var opened = false
    var openStarted: Instant?
    var closeAcks: Set<ServerID> = []
    var setupAcks: Set<ServerID> = []
    var createAcks: Set<ServerID> = []
    var inSyncAcks: Set<ServerID> = []
    var revokeAcks: Set<ServerID> = []
    var openAcks: Set<ServerID> = []
    var refusals: [ServerID: ProtocolRefusal] = [:]
    /// Data-quorum members that answered Step 7 with `unknown-epoch`: they left this epoch for a
    /// newer one (another reconfigurer's Create or their own Step 1) and will not come back.
    var leftEpoch: Set<ServerID> = []
    /// Prior-group acceptors that answered Step 8 with `unknown-epoch` (the prior was replaced
    /// there) or `revoked-to-other`: neither will ever record our revoke.
    var revokeLost: Set<ServerID> = []
    /// When each step last sent its requests, to resend at most every retry interval.
    var lastSent: [Int: Instant] = [:]
    init(epoch: EpochID) { self.epoch = epoch }
}

/// A planned switchover in progress on the old primary (volatile: after a restart the database
/// starts fenced and the lease simply runs out).
///
/// PaxosLease's release, made safe for a database: the lease is released only after the node
/// reported the fence done (`DatabaseReport.fenced`), i.e. in a later step than the one that
/// emitted `fence`, because a step's output sends before it touches the database. The target is
/// asked to take over once every acceptor of the group dropped the grant (or a quorum did and a
/// retry interval passed), so its prepare finds no live owner and it is granted at once.
struct Handover {
    var target: ServerID
    var epoch: EpochID
    /// Highest ballot this server proposed for the lease it gives up (nil: none to release).
    var ballot: Ballot?
    /// The old lease's end on this clock: after it the watchdog has stopped service anyway, so
    /// the target is asked even if the fence was never reported.
    var leaseEnd: Instant
    var releasedAt: Instant?
    var lastSent: Instant?
    var releaseAcks: Set<ServerID> = []
    /// When the target was last asked to take over.
    var askedAt: Instant?
}

/// A leader whose database failed (PDF: none; liveness) is giving way: it stopped renewing, and
/// asks an in-sync member of its data quorum to reconfigure, one at a time, until a newer epoch's
/// Replica Create arrives. Volatile: after a restart the record (catch-up) keeps it from leading
/// and the lapsed lease lets the others act anyway.
struct GiveWay {
    var epoch: EpochID
    /// The ballot of the lease on this epoch itself, to release once fenced (nil: nothing to
    /// release; a Steps 3-4 lease on the prior simply lapses).
    var ballot: Ballot?
    var released = false
    var since: Instant
    var askedAt: Instant?
    /// Candidates that answered they cannot lead (a catch-up copy, or another leader giving way
    /// too): the next one is asked at once, and when none is left the lead is taken back.
    var declined: Set<ServerID> = []
}

/// Everything this server holds for one replica: the persisted record and the volatile parts.
struct ReplicaState {
    var record: ReplicaRecord
    var progress: Progress
    var proposer: LeaseProposer?
    /// The watchdog deadline last given to the database; nil when fenced.
    var serving: Instant?
    /// `fence` actions emitted whose `DatabaseReport.fenced` has not come back yet (the node
    /// reports each fence, in order). Zero: every fence asked for is done.
    var fencesUnconfirmed = 0
    /// What this server last told its database to be (volatile; re-sent after a restart).
    /// Whenever it stops being the primary, the standbys it had caught up are forgotten.
    var dbPrimary = false {
        didSet { if !dbPrimary { caughtUp = [] } }
    }
    var syncSet: [ServerID]?
    /// The standbys streaming from this server's database and caught up, from the latest
    /// `replication` report of its current term as primary only: Step 5 must not count a
    /// report from an earlier term (seed 40422: s1, primary of 8@s1 until a switchover at 10.7 s,
    /// kept [s2] in here; at 17.5 s its promote for 18@s1 failed, no report came, and Step 5
    /// took s2, a witness of 11@s3 with an old copy, as caught up; s2 then led 21@s2 and served
    /// without write 198).
    var caughtUp: Set<ServerID> = []
    /// As serving primary, or at Step 5 of this server's own epoch: since when each data-quorum
    /// member has been missing from `caughtUp` (see `CoreConfig.dataQuorumStall`). Cleared when
    /// service starts and at every new epoch.
    var laggingSince: [ServerID: Instant] = [:]
    /// As serving primary: the back-off between moves of lagging data-quorum members.
    var laggingMoves = LaggingMoves()
    /// As serving primary: when lagging data-quorum members were last sent the epoch's Create.
    var pointedAgainAt: Instant?
    /// As a stale copy: when the others were last asked which epoch the replica is in.
    var queriedAt: Instant?
    var postgres: PostgresStatus?
    /// As primary: not renewing or reconfiguring until then (switchover, or the epoch was closed
    /// by another server).
    var standDownUntil: Instant?
    /// As primary: the planned switchover under way.
    var handover: Handover?
    /// As member: the primary asked us to take over (planned switchover) until then.
    var takeoverUntil: Instant?
    /// As (would-be) primary whose database failed: giving way to another member.
    var giveWay: GiveWay?
    /// As member whose database action failed: when to point it at the primary again.
    var dbRetryAt: Instant?
    /// When this member last told a giving-way leader it cannot lead (at most one answer per
    /// retry interval, so two confused servers can never bounce requests at network speed).
    var declinedAt: Instant?
    /// When a reconfiguration that another member should run was first seen as needed.
    var troubleSince: Instant?
    /// Last time the record's primary showed it is at work here (lease rounds, epoch requests).
    /// A primary that membership calls healthy but that stays silent is treated as unresponsive.
    var primarySeen: Instant?
    /// Highest epoch sequence named in any message about this replica (its epoch, successor or
    /// prior). Step 1 numbers a new epoch above it: an acceptor refuses to set up an epoch older
    /// than one it set up, and a member refuses an older Create, and neither says how much
    /// newer theirs is (seed 25588: s4 went 2@s4, 3@s4, ... one Question 9 round at a time
    /// while s1's acceptor held 14@s1, named in the prepares s4 had received). Volatile: after
    /// a restart the messages of the reconfigurations still under way name them again.
    var epochSeen: UInt64 = 0

    init(record: ReplicaRecord) {
        self.record = record
        self.progress = Progress(epoch: record.epoch.id)
    }

    // The two helpers below are `mutating` only so that the core can call them in place,
    // `replicas[id]?.heard(...)` and `replicas.values[k].wake(...)`: a plain read through a
    // dictionary subscript copies the whole state, on every message and every step.

    /// A message from the record's primary shows it is at work here; any message may name an
    /// epoch newer than this server knows.
    mutating func heard(from source: ServerID, at now: Instant, epochSequence: UInt64) {
        if record.primary == source { primarySeen = now }
        if epochSequence > epochSeen { epochSeen = epochSequence }
    }

    /// When the lease holder must be ticked next (renewal or lease end), if it holds a lease.
    mutating func wake(now: Instant, renewPeriod: Span) -> Instant? {
        guard let p = proposer, let end = p.leaseEnd, now < end else { return nil }
        let renew = (p.leaseStarted ?? now) + renewPeriod
        return min(end, max(renew, now))
    }

    /// This server no longer leads the replica: no lease rounds (a renewal would keep others
    /// out), no hand-over or takeover in progress, and its database is not a primary to it.
    mutating func dropLeadership() {
        proposer = nil
        handover = nil
        standDownUntil = nil
        takeoverUntil = nil
        dbPrimary = false
        syncSet = nil
        laggingMoves = LaggingMoves()
    }
}

/// The back-off between moves of lagging data-quorum members out of the commit path. Each move
/// is a new epoch, and writes wait while it opens: a network that delays now one standby's
/// replies and now another's could otherwise swap them back and forth every few seconds. The
/// wait after a move doubles with each move (2, 4 ... 32 stalls) and starts again from the
/// first once 64 stalls pass without one, or when this server stops leading. Only moves made
/// while serving wait: at Step 5 no primary serves at all, and a move there completes Step 5 at
/// once (every member of the new data quorum is caught up).
struct LaggingMoves {
    private var count: Int64 = 0
    private var last: Instant?

    func allowed(at now: Instant, stall: Span) -> Bool {
        guard let last, now < last + stall * 64 else { return true }
        return now >= last + stall * (1 << min(count, 5))
    }

    mutating func record(at now: Instant, stall: Span) {
        let rested = last.map { now >= $0 + stall * 64 } ?? true
        count = rested ? 1 : count + 1
        last = now
    }
}
