import KetchShared

extension KetchCore {
    mutating func prepareReply(_ r: LeasePrepareReply, now: Instant) {
        guard var st = replicas.removeValue(forKey: r.replica) else { return }
        guard st.proposer?.target.epoch == r.epoch, var p = st.proposer else {
            replicas[r.replica] = st
            return
        }
        let proposes = p.prepareReply(r, now: now, me: config.server, timing: config.timing, backoff: backoff(st))
        st.proposer = p
        if (r.refusal == .revokedToOther && p.revokedElsewhere) || p.epochGone { supersededEpoch(&st, r.epoch, successor: r.successor) }
        replicas[r.replica] = st
        for (s, m) in proposes { send(m, to: s) }
    }

    mutating func proposeReply(_ r: LeaseProposeReply, now: Instant) {
        guard var st = replicas.removeValue(forKey: r.replica) else { return }
        guard st.proposer?.target.epoch == r.epoch, var p = st.proposer else {
            replicas[r.replica] = st
            return
        }
        let acquired = p.proposeReply(r, now: now, timing: config.timing, backoff: backoff(st))
        st.proposer = p
        if acquired, let took = p.lastRoundTook, took > config.retryInterval * 2 {
            note(r.replica, r.epoch, "lease round took \(took.milliseconds) ms from prepare to a quorum of grants (lease \(config.leaseDuration.milliseconds) ms)")
        }
        if r.refusal == .revokedToOther && p.revokedElsewhere { supersededEpoch(&st, r.epoch, successor: r.successor) }
        if acquired, p.target.successor == nil, st.record.epochOpen, st.record.epoch.id == p.target.epoch,
           p.leaseSawClosed || (!p.leaseAllOpen && !st.progress.opened) {
            // Our open epoch was closed by another server that is reconfiguring: stop renewing
            // (a renewal would block its revoke) and let it finish. Whether or not this process
            // opened it: an epoch is closed if any acceptor says so (issue 15, bug 1: with
            // `progress.opened` set, a healed old primary renewed its closed epoch for ever and
            // the successor's Step 8 was refused).
            st.standDownUntil = now + config.leaseDuration * 3
            st.proposer = nil
            note(r.replica, r.epoch, "epoch closed by another server; standing down")
        }
        replicas[r.replica] = st
        drive(r.replica, now: now)
    }

    /// Deterministic stagger so that competing proposers rarely collide.
    private func backoff(_ st: ReplicaState) -> Span {
        let rank = st.record.epoch.quorumGroup.firstIndex(of: config.server) ?? st.record.epoch.quorumGroup.count
        return config.retryInterval / 3 + .milliseconds(Int64(rank) * 40)
    }

    /// An acceptor reports that our epoch (or the prior we lease for it) went to another
    /// successor: our copy is on a dead branch, so stop acting on it until a newer epoch's
    /// Replica Create arrives.
    ///
    /// When the acceptor named the successor, the copy follows that epoch's primary (the server
    /// in the successor's ID) as a standby, so a returning old primary is rewound onto the new
    /// timeline and stands ready as a warm spare even if the new group does not include it.
    mutating func supersededEpoch(_ st: inout ReplicaState, _ epoch: EpochID, successor: EpochID?) {
        guard st.record.dataState == .inSync, epoch == st.record.epoch.id || epoch == st.record.prior?.id else { return }
        st.record.dataState = .catchUp
        st.record.superseded = true
        if let next = successor?.server, next != config.server {
            if st.serving != nil { fence(&st) }
            st.record.primary = next
            st.dbPrimary = false
            st.proposer = nil
            if st.record.hasData { db(st.record.replica, .follow(primary: next)) }
        }
        persist(st.record)
        note(st.record.replica, st.record.epoch.id, "epoch \(epoch.short) was revoked in favour of another successor or replaced; this copy is now catch-up")
    }

    /// Replica · Create (PDF Step 2/5 on a member): persist the epoch metadata and stream from the sender.
    mutating func memberCreate(_ m: ReplicaCreate, now: Instant) {
        let me = config.server
        let reply = { (r: ProtocolRefusal?) in EpochReply(replica: m.replica, source: me, epoch: m.epoch, refusal: r) }
        let old = replicas[m.replica]
        // Records only move forward, except a superseded one (a dead branch may carry a higher
        // number than the live epoch).
        if let old, m.epoch < old.record.epoch.id, !old.record.superseded {
            send(.replicaCreateReply(reply(.olderEpoch)), to: m.source)
            return
        }
        // The epochs that completed Step 8 form one chain of growing numbers (a prior is revoked
        // to one successor by a quorum, and a successor is numbered above its prior), and every
        // record's prior is on it: Step 1 takes as prior the record's prior, or the epoch itself
        // once its own prior was revoked (prior nil), and a Create copies the leader's. So the
        // newest epoch this record knows completed Step 8 is its prior, or its epoch when the
        // prior is gone (revoked, or the epoch opened: Step 9 follows Step 8). A Create whose
        // prior is older than that names a chain epoch already revoked to its chain successor,
        // which is not this Create's newer epoch: that epoch can never complete Step 8 or open,
        // and following it would pull this copy (maybe the serving primary) off the live epoch
        // (seeds 6509 and 8061 for an open epoch; 25024 for one between Steps 5 and 9: the
        // Creates of 7@s1, prior 1@s3, pulled s4 and s5 out of 5@s3, prior 4@s3).
        if let old, !old.record.superseded, m.epoch > old.record.epoch.id, let p = m.priorEpoch,
           p < (old.record.prior?.id ?? old.record.epoch.id) {
            send(.replicaCreateReply(reply(.olderEpoch)), to: m.source)
            return
        }
        // Two members may both continue the same epoch; the lower server ID keeps it. The
        // epoch's own primary always keeps it: its Create shows it is alive and leading, so a
        // takeover of its epoch is given up (the record is rebuilt below, the copy follows it).
        if let old, old.record.epoch.id == m.epoch, old.record.primary == me, old.record.dataState == .inSync, m.source > me,
           m.source != m.epoch.server {
            send(.replicaCreateReply(reply(.olderEpoch)), to: m.source)
            return
        }
        if let old, old.record.epoch.id == m.epoch, old.record.primary == m.source {
            // A repeat: the primary does not see us streaming yet, so point the database again.
            let role = old.record.epoch.role(of: me, primary: m.source)
            if old.record.hasData && (role == .sync || role == .async) {
                // Whatever this server told its database before (it may have taken over this
                // epoch and promoted), it is a standby now: a later epoch of its own must promote.
                replicas[m.replica]?.dbPrimary = false
                db(m.replica, .follow(primary: m.source))
            }
            send(.replicaCreateReply(reply(nil)), to: m.source)
            return
        }
        let epoch = EpochInfo(id: m.epoch, quorumGroup: m.quorumGroup, dataQuorum: m.dataQuorum, asyncMembers: m.asyncMembers)
        let prior = m.priorEpoch.map { EpochInfo(id: $0, quorumGroup: m.priorQuorumGroup, dataQuorum: []) }
        // A copy that is in-sync for the epoch this one succeeds stays in-sync when it joins the
        // new data quorum: nothing is acknowledged in an epoch before it opens.
        var stillInSync = false
        if let o = old?.record, o.dataState == .inSync, o.epoch.dataQuorum.contains(me), m.dataQuorum.contains(me) {
            stillInSync = m.epoch == o.epoch.id || m.priorEpoch == o.epoch.id || (m.priorEpoch != nil && m.priorEpoch == o.prior?.id)
        }
        // Step 7 of this very epoch marked its data quorum in-sync: a fact about the epoch, not
        // about who leads it. A Create for the same epoch from another server continuing it keeps
        // that, so this member can still take the epoch over and finish Step 8 (the prior may be
        // revoked to this epoch, and then to no other). Seed 33522: s4 and s5, reset to catch-up
        // peers by such Creates, each started a new successor of 2@s4, which a quorum had already
        // revoked to their own 6@s4, and gave up; nobody was left to continue 6@s4.
        let peersInSync = stillInSync && old?.record.epoch.id == m.epoch && old?.record.peerState == .inSync
        let role = epoch.role(of: me, primary: m.source)
        let holdsData = role == .sync || role == .async
        let hadData = old?.record.hasData ?? false
        let record = ReplicaRecord(replica: m.replica, spec: m.spec, epoch: epoch, prior: prior, primary: m.source,
                                   dataState: stillInSync ? .inSync : .catchUp, peerState: peersInSync ? .inSync : .catchUp, epochOpen: false,
                                   hasData: hadData || holdsData)
        var st = old ?? ReplicaState(record: record)
        if st.serving != nil { fence(&st) }
        st.record = record
        st.progress = Progress(epoch: m.epoch)
        st.dropLeadership()
        st.giveWay = nil
        st.dbRetryAt = nil
        st.primarySeen = now
        if old == nil { replicaOrder = nil }
        replicas[m.replica] = st
        persist(record)
        if holdsData { db(m.replica, hadData ? .follow(primary: m.source) : .clone(from: m.source)) }
        note(m.replica, m.epoch, "member of new epoch as \(role.rawValue), primary \(m.source.short)")
        send(.replicaCreateReply(reply(nil)), to: m.source)
    }

    /// Replica · UpdateInSync (Step 7 on a member).
    mutating func memberInSync(_ m: EpochRequest, now: Instant) {
        let me = config.server
        let reply = { (r: ProtocolRefusal?) in EpochReply(replica: m.replica, source: me, epoch: m.epoch, refusal: r) }
        guard var st = replicas[m.replica], st.record.epoch.id == m.epoch else {
            send(.replicaUpdateInSyncReply(reply(.unknownEpoch)), to: m.source)
            return
        }
        if st.record.dataState != .inSync || st.record.peerState != .inSync || st.record.primary != m.source {
            if st.record.primary == me && m.source != me {
                // We had taken this epoch over, but its primary is alive and at Step 7: it keeps
                // it (seed 25391: the stale `dbPrimary` later kept our own epoch from promoting),
                // and a copy we had promoted follows it again (parallel-failover seed 31: it
                // stayed promoted, and the primary's synchronous standby never streamed again).
                giveUpTakeover(&st, now: now, why: "its primary is at Step 7")
            }
            st.record.dataState = .inSync
            st.record.peerState = .inSync
            st.record.primary = m.source
            persist(st.record)
            replicas[m.replica] = st
        }
        send(.replicaUpdateInSyncReply(reply(nil)), to: m.source)
    }

    mutating func forget(_ id: ReplicaID, reason: String) {
        guard replicas[id] != nil || acceptors[id] != nil else { return }
        replicas[id] = nil
        replicaOrder = nil
        acceptors[id] = nil
        out.persist.append(.replicaRemoved(id))
        db(id, .stop)
        note(id, nil, "replica forgotten (\(reason)); data kept")
    }

    mutating func command(_ c: CoreCommand, now: Instant) {
        let me = config.server
        switch c {
        case .createReplica(let id, let spec):
            guard replicas[id] == nil else { note(id, nil, "create refused: replica already exists here"); return }
            let home = spec.homeServer.map(ServerID.init) ?? me
            guard var chosen = QuorumGroup.choose(me: me, current: nil, healthy: healthyServers, spec: spec, home: home) else {
                note(id, nil, "create refused: \(spec.quorumGroupSize) servers needed, \(healthyServers.count) healthy")
                return
            }
            chosen.id = freshEpochID(after: [])
            let record = ReplicaRecord(replica: id, spec: spec, epoch: chosen, prior: nil, primary: me, dataState: .inSync,
                                       peerState: .catchUp, epochOpen: false, hasData: true)
            var st = ReplicaState(record: record)
            st.dbPrimary = true
            replicas[id] = st
            replicaOrder = nil
            persist(record)
            db(id, .initialise(spec))
            note(id, chosen.id, "created: group [\(chosen.quorumGroup.map(\.short).joined(separator: ","))]")
            drive(id, now: now)
        case .deleteReplica(let id):
            if let st = replicas[id] {
                let m = EpochRequest(replica: id, source: me, epoch: st.record.epoch.id)
                for s in st.record.epoch.quorumGroup where s != me { send(.replicaDelete(m), to: s) }
            }
            forget(id, reason: "delete command")
        case .switchover(let id, let to):
            startSwitchover(id, to: to, now: now)
        }
    }

    mutating func database(_ report: DatabaseReport, now: Instant) {
        let id = report.replica
        guard var st = replicas.removeValue(forKey: id) else { return }
        switch report {
        case .replication(_, let caughtUp):
            // Only while this server has told its database to be the primary: a report polled
            // just before a follow (or before the promote) belongs to another term. Nor while a
            // fence is under way: the report may predate commits acknowledged before it.
            st.caughtUp = st.dbPrimary && st.fencesUnconfirmed == 0 ? Set(caughtUp) : []
        case .failed(_, let message):
            st.postgres = PostgresStatus(state: "failed", error: message)
            note(id, st.record.epoch.id, "database failed: \(message)")
            if st.record.primary == config.server {
                if st.giveWay == nil { databaseFailedWhileLeading(&st, now: now) }
            } else if st.record.hasData, st.record.epoch.dataQuorum.contains(config.server) || st.record.epoch.asyncMembers.contains(config.server) {
                st.dbRetryAt = now + config.leaseDuration
            }
        case .status(_, let s):
            st.postgres = s
        case .fenced:
            st.fencesUnconfirmed = max(0, st.fencesUnconfirmed - 1)
        case .initialised, .promoted, .following:
            break
        }
        replicas[id] = st
        drive(id, now: now)
    }
}
