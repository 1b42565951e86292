import KetchShared

/// A copy on a dead branch: its epoch was replaced while its server was away (stopped, cut
/// off), so its record is `superseded` and says nothing true about the replica any more. The
/// protocol never tells such a server the current epoch unless a reconfiguration chooses it
/// again; until then it asks the others (issue 22: after two whole-cluster restarts server2,
/// primary of 4@server2 before them and left out of the group since, said `role: primary` of
/// that closed epoch for an hour while the group was in epoch 8, and its Postgres sat in
/// recovery on the service port).
extension KetchCore {
    /// Whether the record is a dead-branch copy's last knowledge rather than the replica's state.
    func isStale(_ rec: ReplicaRecord) -> Bool { rec.superseded && rec.dataState == .catchUp }

    /// A stale copy, and a spare (outside its epoch's group, so no reconfiguration tells it
    /// anything until one chooses it), ask which epoch the replica is in.
    func asksForCurrentEpoch(_ rec: ReplicaRecord) -> Bool {
        isStale(rec) || (!rec.epoch.quorumGroup.contains(config.server) && rec.primary != config.server)
    }

    /// Asked on every tick: every other healthy server is asked, at most once per two leases.
    mutating func askForCurrentEpoch(_ st: inout ReplicaState, now: Instant) {
        guard membershipKnown, st.queriedAt.map({ now >= $0 + config.leaseDuration * 2 }) ?? true else { return }
        st.queriedAt = now
        let m = EpochRequest(replica: st.record.replica, source: config.server, epoch: st.record.epoch.id)
        for s in healthyServers where s != config.server { send(.replicaQuery(m), to: s) }
    }

    /// Answered only with a newer epoch that is open here: Step 9 runs after Step 8, so that
    /// epoch is on the chain of completed epochs, which a record's epoch (with no prior) must
    /// be for the rules that refuse Creates from dead branches. An epoch still being set up may
    /// never complete (seed 107 at safety 10 s: s1 took 6@s2 from such an answer; 6@s2 was
    /// abandoned, and s1 refused s2's next epoch, whose prior 2@s2 is older, for good).
    mutating func answerQuery(_ m: EpochRequest) {
        guard let st = replicas[m.replica], !isStale(st.record), st.record.epochOpen, st.record.prior == nil,
              st.record.epoch.id > m.epoch else { return }
        let e = st.record.epoch
        let reply = ReplicaCurrent(replica: m.replica, source: config.server, epoch: e.id, primary: st.record.primary,
                                   quorumGroup: e.quorumGroup, dataQuorum: e.dataQuorum, asyncMembers: e.asyncMembers,
                                   open: st.record.epochOpen)
        send(.replicaQueryReply(reply), to: m.source)
    }

    /// A stale copy takes the newer epoch as what it knows of the replica: outside its group it
    /// is a spare (an async member when the group lists it as one), reports the epoch's primary
    /// like every member does, and its copy follows that primary as a warm standby, so it is in
    /// line when a reconfiguration chooses it again. It stays catch-up: it does not act in that
    /// epoch, and the next Create makes it a member again as usual.
    mutating func learnCurrent(_ r: ReplicaCurrent, now: Instant) {
        let me = config.server
        guard var st = replicas[r.replica], asksForCurrentEpoch(st.record), r.open, r.epoch > st.record.epoch.id, r.primary != me,
              r.quorumGroup.contains(r.primary) else { return }
        if st.serving != nil { fence(&st) }
        st.dropLeadership()
        st.giveWay = nil
        st.progress = Progress(epoch: r.epoch)
        st.record.epoch = EpochInfo(id: r.epoch, quorumGroup: r.quorumGroup, dataQuorum: r.dataQuorum, asyncMembers: r.asyncMembers)
        st.record.prior = nil
        st.record.primary = r.primary
        st.record.epochOpen = true
        st.record.peerState = .catchUp
        st.record.dataState = .catchUp
        st.record.superseded = false
        st.primarySeen = now
        persist(st.record)
        let role = st.record.epoch.role(of: me, primary: r.primary)
        if st.record.hasData {
            st.dbRetryAt = nil
            db(r.replica, .follow(primary: r.primary))
        }
        note(r.replica, r.epoch, "this copy was on a dead branch; the replica is in epoch \(r.epoch.short) led by \(r.primary.short), here a \(role.rawValue)\(st.record.hasData ? ": following it" : "")")
        replicas[r.replica] = st
    }
}
