import KetchShared

/// Planned switchover: the primary fences, releases its lease once the fence is done, and asks
/// the target to take over, which then finds the lease free instead of waiting for it to end.
extension KetchCore {
    /// Stops client service and records the fence as not yet confirmed by the node.
    /// Stops client service. The caught-up standbys reported while serving are forgotten, and
    /// reports are ignored until the fence is confirmed: a standby caught up before the last
    /// commits were acknowledged is not caught up with them, and a Step 5 that counted it could
    /// open an epoch whose data quorum lacks acknowledged writes (issue 15, bug 3).
    mutating func fence(_ st: inout ReplicaState) {
        st.serving = nil
        st.fencesUnconfirmed += 1
        st.caughtUp = []
        db(st.record.replica, .fence)
    }

    /// The `switchover` command on the serving primary. The fence goes out in this step; the
    /// release only after the node reported it done (see `Handover`).
    mutating func startSwitchover(_ id: ReplicaID, to: ServerID?, now: Instant) {
        let me = config.server
        guard var st = replicas[id], st.record.primary == me, let leaseEnd = st.serving, st.handover == nil else {
            note(id, nil, "switchover refused: this server is not the serving primary")
            return
        }
        let dq = st.record.epoch.dataQuorum.filter { $0 != me && isHealthy($0) }
        guard let target = to ?? dq.first, dq.contains(target) else {
            note(id, nil, "switchover refused: no healthy in-sync member \(to.map { "named \($0.short)" } ?? "available")")
            return
        }
        st.standDownUntil = now + config.leaseDuration * 3
        st.handover = Handover(target: target, epoch: st.record.epoch.id, ballot: st.proposer?.lastProposed, leaseEnd: leaseEnd)
        // No further lease rounds: a propose sent after the release would grant the lease again.
        st.proposer = nil
        replicas[id] = st
        note(id, st.record.epoch.id, "switchover: handing over to \(target.short)")
        drive(id, now: now)
    }

    /// The old primary's side, run by the questions on every step until the target is asked.
    mutating func handOver(_ st: inout ReplicaState, now: Instant) {
        guard var h = st.handover else { return }
        let id = st.record.replica
        guard h.epoch == st.record.epoch.id, st.standDownUntil.map({ now < $0 }) ?? false else {
            st.handover = nil
            return
        }
        let group = st.record.epoch.quorumGroup
        if h.releasedAt == nil {
            // The fence (emitted when the switchover started) must be done before the release
            // leaves: a released acceptor grants the lease to the target at once.
            let fenced = st.serving == nil && st.fencesUnconfirmed == 0
            if let ballot = h.ballot, fenced || config.mutation == .releaseBeforeFence {
                h.releasedAt = now
                h.lastSent = now
                let m = LeaseRelease(replica: id, source: config.server, epoch: h.epoch, ballot: ballot)
                for s in group { send(.leaseRelease(m), to: s) }
                note(id, h.epoch, "switchover: fenced, lease released")
                st.handover = h
                return
            }
            // Nothing to release, or the fence was never confirmed and the old lease has ended
            // (the watchdog stopped service): the target just waits for the grants to run out.
            guard (h.ballot == nil && fenced) || now >= h.leaseEnd else { return }
            h.releasedAt = now
        }
        if let asked = h.askedAt {
            if now >= asked + config.retryInterval { ask(&h, id: id, now: now) }
            st.handover = h
            return
        }
        let acked = group.filter { h.releaseAcks.contains($0) }.count
        let waited = h.releasedAt.map { now >= $0 + config.retryInterval } ?? true
        if h.ballot != nil && acked < group.count && !(acked >= st.record.epoch.quorum && waited) && now < h.leaseEnd {
            if let ballot = h.ballot, let last = h.lastSent, now >= last + config.retryInterval {
                h.lastSent = now
                let m = LeaseRelease(replica: id, source: config.server, epoch: h.epoch, ballot: ballot)
                for s in group where !h.releaseAcks.contains(s) { send(.leaseRelease(m), to: s) }
            }
            st.handover = h
            return
        }
        ask(&h, id: id, now: now)
        st.handover = h
    }

    /// Asks the target to take over (repeated every retry interval until its Replica Create
    /// for the new epoch arrives or the stand-down ends).
    private mutating func ask(_ h: inout Handover, id: ReplicaID, now: Instant) {
        if h.askedAt == nil { note(id, h.epoch, "switchover: asking \(h.target.short) to take over") }
        h.askedAt = now
        send(.switchover(EpochRequest(replica: id, source: config.server, epoch: h.epoch)), to: h.target)
    }

    mutating func releaseReply(_ r: EpochReply, now: Instant) {
        guard var st = replicas[r.replica], st.handover?.epoch == r.epoch, st.handover?.releasedAt != nil else { return }
        st.handover?.releaseAcks.insert(r.source)
        replicas[r.replica] = st
        drive(r.replica, now: now)
    }

    /// On the target: the primary asked us to take over; Question 3 then starts a new epoch.
    /// On a leader giving way: the candidate it asked sent the request back (it cannot lead).
    mutating func switchoverRequested(_ m: EpochRequest, now: Instant) {
        let me = config.server
        guard var st = replicas[m.replica], m.source != me, st.record.epoch.id == m.epoch else { return }
        if st.record.primary == me {
            guard st.giveWay != nil else { return }
            giveWayDeclined(&st, by: m.source, now: now)
            replicas[m.replica] = st
            drive(m.replica, now: now)
            return
        }
        guard st.record.primary == m.source else { return }
        guard st.record.dataState == .inSync, st.record.epoch.dataQuorum.contains(me) else {
            declineToLead(&st, m, now: now)
            replicas[m.replica] = st
            return
        }
        if st.takeoverUntil == nil { note(m.replica, m.epoch, "switchover: asked by \(m.source.short) to become primary") }
        st.takeoverUntil = now + config.leaseDuration * 3
        replicas[m.replica] = st
        drive(m.replica, now: now)
    }
}
