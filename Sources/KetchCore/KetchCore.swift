import KetchShared

/// The Ketch protocol of one server as a deterministic state machine, without I/O.
///
/// The node owns one `KetchCore`, feeds it every event and carries out each `CoreOutput` in
/// order: persist (durably) → send → database → schedule `wakeAt`. Time arrives only in events;
/// there is no clock, randomness or I/O here, so the simulator can replay a run exactly.
public struct KetchCore: Sendable {
    public let config: CoreConfig
    public let bootID: String
    var counters: Counters
    var nextBallot: UInt64
    var acceptors: [ReplicaID: AcceptorRecord] = [:]
    var replicas: [ReplicaID: ReplicaState] = [:]
    /// Nil until the first event tells us what time it is (after a reboot the quiet period
    /// starts then).
    var quietUntil: Instant?
    var bootRecordNeeded: Bool
    var rebooted: Bool
    var inbox: [KetchMessage] = []
    /// Cache for `sortedReplicaIDs()`; nil after a replica is added or removed.
    var replicaOrder: [ReplicaID]?
    var out = CoreOutput()

    /// A server with no state yet.
    public init(config: CoreConfig, bootID: String) {
        self.init(config: config, bootID: bootID, restoring: [])
    }

    /// Rebuilds the core from everything the node had persisted. Grants written in another boot
    /// are dropped, and the acceptor stays quiet for `LeaseTiming.rebootQuiet`.
    public init(config: CoreConfig, bootID: String, restoring records: [PersistRecord]) {
        self.config = config
        self.bootID = bootID
        var counters = Counters()
        var boot: BootRecord?
        var removed: Set<ReplicaID> = []
        for r in records {
            switch r {
            case .replica(let rec): replicas[rec.replica] = ReplicaState(record: rec)
            case .replicaRemoved(let id): removed.insert(id)
            case .acceptor(let a): acceptors[a.replica] = a
            case .counters(let c): counters = c
            case .boot(let b): boot = b
            }
        }
        for id in removed { replicas[id] = nil; acceptors[id] = nil }
        self.counters = counters
        self.nextBallot = counters.ballotReserved + 1
        self.healthyServers = [config.server]
        if let b = boot, b.bootID == bootID {
            quietUntil = b.quietUntil
            bootRecordNeeded = false
            rebooted = false
        } else {
            rebooted = !acceptors.isEmpty
            bootRecordNeeded = true
            for id in acceptors.keys {
                acceptors[id]?.current?.accepted = nil
                acceptors[id]?.prior?.accepted = nil
            }
        }
    }

    /// Handles one event and returns what the node must do, in order.
    public mutating func handle(_ event: CoreEvent) -> CoreOutput {
        out = CoreOutput()
        let now = event.now
        if bootRecordNeeded { recordBoot(now: now) }
        switch event {
        case .tick:
            for id in sortedReplicaIDs() { drive(id, now: now) }
        case .received(_, let message, _):
            dispatch(message, now: now)
        case .membership(let view, _):
            updateHealthy(view, now: now)
            for id in sortedReplicaIDs() { drive(id, now: now) }
        case .database(let report, _):
            database(report, now: now)
        case .command(let command, _):
            self.command(command, now: now)
        }
        while !inbox.isEmpty {
            let m = inbox.removeFirst()
            dispatch(m, now: now)
        }
        out.wakeAt = wakeAt(now: now)
        return out
    }

    private mutating func recordBoot(now: Instant) {
        bootRecordNeeded = false
        let quiet = rebooted ? now + config.timing.rebootQuiet : now
        quietUntil = quiet
        for id in acceptors.keys.sorted() { out.persist.append(.acceptor(acceptors[id]!)) }
        out.persist.append(.boot(BootRecord(bootID: bootID, quietUntil: quiet)))
        if rebooted {
            note(nil, nil, "rebooted (boot \(bootID)): acceptors quiet until \(quiet)")
        }
    }

    func isQuiet(_ now: Instant) -> Bool { quietUntil.map { now < $0 } ?? true }

    /// `healthyServers` holds a handful of servers: a scan is cheaper than hashing an ID.
    func isHealthy(_ s: ServerID) -> Bool { healthyServers.contains(s) }

    /// The replica IDs in order (the output must not depend on dictionary order), kept until a
    /// replica is added or removed rather than sorted on every tick.
    mutating func sortedReplicaIDs() -> [ReplicaID] {
        if let order = replicaOrder, order.count == replicas.count { return order }
        let order = replicas.keys.sorted()
        replicaOrder = order
        return order
    }

    /// Sorted healthy servers including this one, recomputed on each membership event.
    var healthyServers: [ServerID] = []
    /// Question 3 waits for the first membership event: before it, everyone looks unresponsive.
    var membershipKnown = false

    /// Since when each server the failure detector calls unhealthy has been so (volatile).
    var unhealthySince: [ServerID: Instant] = [:]

    mutating func updateHealthy(_ view: [ServerID: Bool], now: Instant) {
        membershipKnown = true
        var s = Set(view.filter { $0.value }.map(\.key))
        s.insert(config.server)
        healthyServers = s.sorted()
        var since: [ServerID: Instant] = [:]
        for (server, healthy) in view where !healthy && server != config.server { since[server] = unhealthySince[server] ?? now }
        unhealthySince = since
    }

    /// Whether a primary should reconfigure around group member `s` now. A failure detector on
    /// a loaded node suspects live members for a few hundred ms at a time (issue 22: under eight
    /// parallel clones and promotes on two cores every member was suspected and cleared again
    /// every second or so), and each reconfiguration fences the primary for a whole new epoch.
    /// So a member is believed gone at once only when it holds up commits: a data-quorum member
    /// of a serving primary whose database does not report it caught up. One that is caught up
    /// (its Postgres streams from ours and replies), one outside the data quorum, and any member
    /// while the epoch is still being set up (nothing is acknowledged yet) is waited for up to
    /// a lease. Without that, a reconfiguration replaced a member wrongly declared dead by a
    /// server still cloning, and Step 5 waited 20 s for the clone (issue 22's real-process test).
    func goneFromGroup(_ s: ServerID, _ st: ReplicaState, now: Instant) -> Bool {
        guard !isHealthy(s) else { return false }
        let holdsCommits = st.serving != nil && st.record.epoch.dataQuorum.contains(s) && !st.caughtUp.contains(s)
        return holdsCommits || now >= (unhealthySince[s] ?? now) + config.leaseDuration
    }

    mutating func send(_ message: KetchMessage, to server: ServerID) {
        if server == config.server { inbox.append(message) } else { out.send.append((server, message)) }
    }

    mutating func db(_ replica: ReplicaID, _ action: DatabaseAction) {
        out.database.append(DatabaseCommand(replica: replica, action: action))
    }

    mutating func note(_ replica: ReplicaID?, _ epoch: EpochID?, _ text: String) {
        out.notes.append(Note(replica: replica, epoch: epoch, text: text))
    }

    mutating func persist(_ record: ReplicaRecord) { out.persist.append(.replica(record)) }

    /// A fresh ballot above everything this server used or saw. Sequences are reserved in blocks
    /// of 1,000 so that renewals do not each cost a durable write.
    mutating func freshBallot(above seen: Ballot) -> Ballot {
        let seq = max(nextBallot, seen.sequence + 1)
        nextBallot = seq + 1
        if seq >= counters.ballotReserved {
            counters.ballotReserved = seq + 1_000
            out.persist.append(.counters(counters))
        }
        return Ballot(sequence: seq, server: config.server)
    }

    /// An epoch ID above this server's own sequence, the epochs given and `sequence` (the highest
    /// named in messages).
    mutating func freshEpochID(after seen: [EpochID], sequence: UInt64 = 0) -> EpochID {
        // Saturating: `sequence` comes from messages, and a garbled one must not trap here.
        let highest = max(counters.epochSequence, seen.map(\.sequence).max() ?? 0, sequence)
        let seq = highest == .max ? highest : highest + 1
        counters.epochSequence = seq
        out.persist.append(.counters(counters))
        return EpochID(sequence: seq, server: config.server)
    }

    private mutating func wakeAt(now: Instant) -> Instant? {
        var best: Instant?
        // Walks dictionary indices, not `replicas.values.indices`: that collection keeps a
        // reference to the storage, so the first in-place `wake` copied the whole dictionary
        // (every replica's state, with a retain per field) on every step.
        var k = replicas.startIndex
        while k != replicas.endIndex {
            if let t = replicas.values[k].wake(now: now, renewPeriod: config.renewPeriod) {
                best = best.map { min($0, t) } ?? t
            }
            k = replicas.index(after: k)
        }
        return best
    }

    private mutating func dispatch(_ message: KetchMessage, now: Instant) {
        replicas[message.replica]?.heard(from: message.source, at: now, epochSequence: message.highestEpochSequence)
        switch message {
        case .leasePrepare, .leasePropose, .leaseRelease, .epochSetup, .epochOpen, .epochClose, .epochRevoke:
            accept(message, now: now)
        case .leasePrepareReply(let r): prepareReply(r, now: now)
        case .leaseProposeReply(let r): proposeReply(r, now: now)
        case .leaseReleaseReply(let r): releaseReply(r, now: now)
        case .epochSetupReply(let r): ack(r.replica, r.epoch, r.source, r.refusal, \.setupAcks, now: now)
        case .epochOpenReply(let r): ack(r.replica, r.epoch, r.source, r.refusal, \.openAcks, now: now)
        case .epochCloseReply(let r):
            // Close concerns the prior epoch; the acks belong to the reconfiguration towards `epoch`.
            if let st = replicas[r.replica], st.record.prior?.id == r.epoch {
                ack(r.replica, st.record.epoch.id, r.source, r.refusal, \.closeAcks, now: now)
            }
        case .epochRevokeReply(let r):
            ack(r.replica, r.successor, r.source, r.refusal, \.revokeAcks, now: now, lost: \.revokeLost, on: [.unknownEpoch, .revokedToOther])
        case .replicaCreateReply(let r): ack(r.replica, r.epoch, r.source, r.refusal, \.createAcks, now: now)
        case .replicaUpdateInSyncReply(let r):
            ack(r.replica, r.epoch, r.source, r.refusal, \.inSyncAcks, now: now, lost: \.leftEpoch, on: [.unknownEpoch])
        case .replicaCreate(let m): memberCreate(m, now: now)
        case .replicaUpdateInSync(let m): memberInSync(m, now: now)
        case .replicaDelete(let m): forget(m.replica, reason: "deleted by \(m.source.short)")
        case .switchover(let m): switchoverRequested(m, now: now)
        case .replicaQuery(let m): answerQuery(m)
        case .replicaQueryReply(let r): learnCurrent(r, now: now)
        }
    }

    /// Records one reply to a request of the current reconfiguration, then re-runs the questions.
    /// A refusal in `on` is final (the sender will never grant it): it goes into `lost`, and the
    /// questions run again to decide whether the step can still complete.
    private mutating func ack(_ id: ReplicaID, _ epoch: EpochID, _ from: ServerID, _ refusal: ProtocolRefusal?,
                              _ set: WritableKeyPath<Progress, Set<ServerID>>, now: Instant,
                              lost: WritableKeyPath<Progress, Set<ServerID>>? = nil, on final: Set<ProtocolRefusal> = []) {
        // Taken out (not copied) to look: the common case goes on to change it.
        guard var st = replicas.removeValue(forKey: id) else { return }
        guard st.progress.epoch == epoch else {
            replicas[id] = consume st
            return
        }
        if let refusal {
            st.progress.refusals[from] = refusal
            guard let lost, final.contains(refusal), !st.progress[keyPath: lost].contains(from) else {
                replicas[id] = st
                return
            }
            st.progress[keyPath: lost].insert(from)
            replicas[id] = st
            drive(id, now: now)
            return
        }
        st.progress[keyPath: set].insert(from)
        replicas[id] = st
        drive(id, now: now)
    }
}

extension KetchMessage {
    /// The highest epoch sequence the message names: its epoch, and a successor or prior.
    var highestEpochSequence: UInt64 {
        let other: EpochID? = switch self {
        case .leasePrepare(let m): m.successor
        case .leasePrepareReply(let m): m.successor
        case .leasePropose(let m): m.successor
        case .leaseProposeReply(let m): m.successor
        case .epochRevoke(let m): m.successor
        case .epochRevokeReply(let m): m.successor
        case .epochSetup(let m): m.prior
        case .replicaCreate(let m): m.priorEpoch
        default: nil
        }
        return max(epoch.sequence, other?.sequence ?? 0)
    }
}
