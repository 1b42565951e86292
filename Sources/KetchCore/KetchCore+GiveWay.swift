import KetchShared

/// Liveness when the leader's database fails (not in the PDF). A server leading a
/// reconfiguration or serving as primary whose Postgres fails (a `promote` that cannot reach a
/// consistent state, a crash) would otherwise keep renewing the lease of an epoch it can never
/// serve, and the other members, hearing it at work, would wait for it forever.
///
/// So it gives way: fence, stop renewing (the lease lapses; the lease on its own epoch is
/// released once the fence is confirmed, as in a switchover), mark its copy catch-up (Question 2
/// then keeps it from leading until a newer epoch's primary marks it in-sync again in Step 7,
/// i.e. after a follow or clone of that primary caught up) and ask an in-sync member of its data
/// quorum to reconfigure. That member runs the normal Steps 1-9 with its own in-sync copy: with
/// a failed promote nothing was acknowledged in this epoch, and everything acknowledged before
/// is on every data-quorum member.
extension KetchCore {
    /// The members that certainly hold every acknowledged write and can lead: the healthy
    /// data-quorum members once Step 7 made them in-sync; before that only those that were also
    /// in the prior epoch's data quorum (a member joining the data quorum from outside it, or
    /// moved out of it, is catch-up until Step 7).
    func successorCandidates(_ st: ReplicaState) -> [ServerID] {
        let me = config.server
        var c = st.record.epoch.dataQuorum.filter { $0 != me && isHealthy($0) }
        if st.record.peerState != .inSync {
            guard let prior = st.record.prior, !prior.dataQuorum.isEmpty else { return [] }
            c = c.filter { prior.dataQuorum.contains($0) }
        }
        let home = st.record.spec.homeServer.map(ServerID.init)
        return c.sorted { a, b in
            if (a == home) != (b == home) { return a == home }
            return a < b
        }
    }

    /// Gives way when another member can lead; otherwise (this copy is the only one known to be
    /// complete) keeps the lead and promotes again after a lease, as a restarted node would.
    mutating func databaseFailedWhileLeading(_ st: inout ReplicaState, now: Instant) {
        if !successorCandidates(st).isEmpty {
            giveWay(&st, now: now)
            return
        }
        st.dbPrimary = false
        st.syncSet = nil
        st.progress.replicated = false
        st.dbRetryAt = now + config.leaseDuration
        note(st.record.replica, st.record.epoch.id, "database failed while leading, no other member known in-sync: promoting again in a lease")
    }

    mutating func giveWay(_ st: inout ReplicaState, now: Instant) {
        let id = st.record.replica
        // Fenced even when this process is not serving: a previous incarnation may have opened
        // the database (its watchdog still running), and a failed action need not have stopped
        // Postgres. The release waits for this fence to be reported done.
        fence(&st)
        var ballot: Ballot?
        if let p = st.proposer, p.target.epoch == st.record.epoch.id, p.target.successor == nil { ballot = p.lastProposed }
        st.dropLeadership()
        st.record.dataState = .catchUp
        st.progress = Progress(epoch: st.record.epoch.id)
        persist(st.record)
        st.giveWay = GiveWay(epoch: st.record.epoch.id, ballot: ballot, since: now)
        note(id, st.record.epoch.id, "database failed while leading: giving way (copy now catch-up, lease left to lapse)")
    }

    /// Run on every step before Question 2 (the copy is catch-up now).
    mutating func continueGivingWay(_ st: inout ReplicaState, now: Instant) {
        guard var g = st.giveWay else { return }
        let me = config.server
        let id = st.record.replica
        guard g.epoch == st.record.epoch.id, st.record.primary == me else {
            st.giveWay = nil
            return
        }
        // PaxosLease release, only once client service is confirmed stopped.
        if !g.released, let ballot = g.ballot, st.serving == nil, st.fencesUnconfirmed == 0 {
            g.released = true
            let m = LeaseRelease(replica: id, source: me, epoch: g.epoch, ballot: ballot)
            for s in st.record.epoch.quorumGroup { send(.leaseRelease(m), to: s) }
        }
        // Nobody took over (the candidates were not in-sync after all, or became unhealthy):
        // take the lead back. The copy is no less complete than before its database failed,
        // and a promote that fails again gives way again.
        if now >= g.since + config.leaseDuration * 4 {
            takeLeadBack(&st, why: "nobody took over")
            return
        }
        let candidates = successorCandidates(st)
        let remaining = candidates.filter { !g.declined.contains($0) }
        if !candidates.isEmpty && remaining.isEmpty {
            // Every candidate said it cannot lead (seeds 37218, 52062, 68190, 69443: a catch-up
            // copy, or a member whose own promote failed and who gave way back, were waited for
            // four leases, twice, past the 30 s bound). Promote again one lease after the
            // failure, as when no candidate is known at all.
            st.giveWay = g
            takeLeadBack(&st, why: "no candidate can lead")
            st.dbRetryAt = max(now, g.since + config.leaseDuration)
            return
        }
        if g.askedAt.map({ now >= $0 + config.retryInterval }) ?? true {
            if !remaining.isEmpty {
                // One member at a time; the next one after a takeover window without a new epoch.
                let window = (config.leaseDuration * 3).nanoseconds
                let turn = Int(((now - g.since).nanoseconds / max(1, window)) % Int64(remaining.count))
                if g.askedAt == nil { note(id, g.epoch, "giving way: asking \(remaining[turn].short) to reconfigure") }
                send(.switchover(EpochRequest(replica: id, source: me, epoch: g.epoch)), to: remaining[turn])
            }
            g.askedAt = now
        }
        st.giveWay = g
    }

    private mutating func takeLeadBack(_ st: inout ReplicaState, why: String) {
        guard let g = st.giveWay else { return }
        st.giveWay = nil
        st.record.dataState = .inSync
        persist(st.record)
        note(st.record.replica, g.epoch, "giving way: \(why); leading again")
    }

    /// A candidate we asked to lead sent the request back: it cannot lead (its copy is catch-up,
    /// or it is not in the data quorum), or it is a leader of this same epoch giving way too
    /// (it took the epoch over after Step 7 and its promote failed as well). Then the next
    /// candidate is asked at once, and with none left this server leads again.
    ///
    /// Two leaders of one epoch both giving way ask each other; were both to lead again, the one
    /// with the higher ID could hold the prior's lease while its Creates are refused by the
    /// other (the lower ID keeps an epoch both continue), and neither would get on. So after
    /// Step 7 (only then can another server have taken this epoch over) a request from a lower
    /// ID is left to that server, which leads again on ours.
    mutating func giveWayDeclined(_ st: inout ReplicaState, by source: ServerID, now: Instant) {
        guard var g = st.giveWay, g.epoch == st.record.epoch.id else { return }
        if st.record.peerState == .inSync && source < config.server { return }
        guard g.declined.insert(source).inserted else { return }
        g.askedAt = nil
        st.giveWay = g
        note(st.record.replica, g.epoch, "giving way: \(source.short) cannot lead")
    }

    /// On a member asked by its primary to lead that cannot (not in-sync, or not in the data
    /// quorum): say so by sending the request back, so the asker moves on at once instead of
    /// waiting a takeover window. At most once per retry interval.
    mutating func declineToLead(_ st: inout ReplicaState, _ m: EpochRequest, now: Instant) {
        guard st.declinedAt.map({ now >= $0 + config.retryInterval }) ?? true else { return }
        st.declinedAt = now
        send(.switchover(EpochRequest(replica: m.replica, source: config.server, epoch: m.epoch)), to: m.source)
        note(m.replica, m.epoch, "switchover: asked by \(m.source.short) to become primary, but this copy cannot lead")
    }

    /// A member whose database action failed points it at the primary again (a clone or follow
    /// may fail for a moment while the primary restarts or is being promoted).
    mutating func retryDatabase(_ st: inout ReplicaState, now: Instant) {
        guard let t = st.dbRetryAt, now >= t else { return }
        st.dbRetryAt = nil
        // As leader, Step 5 promotes again (it waits for `dbRetryAt` to pass).
        guard st.record.primary != config.server, st.record.hasData else { return }
        db(st.record.replica, .follow(primary: st.record.primary))
        note(st.record.replica, st.record.epoch.id, "database failed earlier: following \(st.record.primary.short) again")
    }
}
