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
    /// This server took over the epoch from its dead primary: it must not open it.
    var takeover = false
    var closeAcks: Set<ServerID> = []
    var setupAcks: Set<ServerID> = []
    var createAcks: Set<ServerID> = []
    var inSyncAcks: Set<ServerID> = []
    var revokeAcks: Set<ServerID> = []
    var openAcks: Set<ServerID> = []
    var refusals: [ServerID: ProtocolRefusal] = [:]
    /// When each step last sent its requests, to resend at most every retry interval.
    var lastSent: [Int: Instant] = [:]
    init(epoch: EpochID) { self.epoch = epoch }
}

/// Everything this server holds for one replica: the persisted record and the volatile parts.
struct ReplicaState {
    var record: ReplicaRecord
    var progress: Progress
    var proposer: LeaseProposer?
    /// The watchdog deadline last given to the database; nil when fenced.
    var serving: Instant?
    /// What this server last told its database to be (volatile; re-sent after a restart).
    var dbPrimary = false
    var syncSet: [ServerID]?
    var caughtUp: Set<ServerID> = []
    var postgres: PostgresStatus?
    /// As primary: not renewing or reconfiguring until then (switchover, or the epoch was closed
    /// by another server).
    var standDownUntil: Instant?
    /// As member: the primary asked us to take over (planned switchover) until then.
    var takeoverUntil: Instant?
    /// When a reconfiguration that another member should run was first seen as needed.
    var troubleSince: Instant?
    /// Last time the record's primary showed it is at work here (lease rounds, epoch requests).
    /// A primary that membership calls healthy but that stays silent is treated as unresponsive.
    var primarySeen: Instant?

    init(record: ReplicaRecord) {
        self.record = record
        self.progress = Progress(epoch: record.epoch.id)
    }
}
