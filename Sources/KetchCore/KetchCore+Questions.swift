import KetchShared

/// The PDF's Replica Management State Machine: nine questions asked on every tick (and after
/// every reply), each answer resuming the reconfiguration at the right step.
extension KetchCore {
    mutating func drive(_ id: ReplicaID, now: Instant) {
        // Taken out of the dictionary while it changes, so its collections are not copied, and
        // moved back as the last use (a `defer` would copy it).
        guard var st = replicas.removeValue(forKey: id) else { return }   // Question 1: no replica state, exit.
        askQuestions(&st, now: now)
        replicas[id] = consume st
    }

    /// Questions 2-9 for one replica.
    private mutating func askQuestions(_ st: inout ReplicaState, now: Instant) {
        let me = config.server

        enforceFence(&st, now: now)
        if st.giveWay == nil, st.record.primary == me, st.record.dataState == .catchUp, !st.record.superseded {
            // Only giving way leaves our own epoch catch-up and not superseded: after a restart
            // (the give-way state is volatile) go on asking, and take the lead back in time.
            st.giveWay = GiveWay(epoch: st.record.epoch.id, ballot: nil, since: now)
        }
        if st.giveWay != nil { continueGivingWay(&st, now: now) }
        if st.dbRetryAt != nil { retryDatabase(&st, now: now) }
        if asksForCurrentEpoch(st.record) { askForCurrentEpoch(&st, now: now) }
        // Question 2: only an in-sync copy in the data quorum may act.
        guard st.record.dataState == .inSync, st.record.epoch.dataQuorum.contains(me) else { return }
        // Question 3: unresponsive members (or a missing/abdicating primary) → Step 1.
        considerReconfiguring(&st, now: now)
        guard st.record.primary == me else { return }
        if st.handover != nil { handOver(&st, now: now) }
        if let until = st.standDownUntil {
            if now < until { return }
            st.standDownUntil = nil
        }
        // Question 4: a prior epoch without its lease → Steps 3 and 4.
        if let prior = st.record.prior, !st.progress.priorClosed {
            guard closePrior(&st, prior: prior, now: now) else { return }
        }
        // Question 5: peers not in-sync → Step 5. A takeover skips it: Step 7 already ran, the
        // data quorum may include the dead primary, and members still stream from it.
        if !st.progress.replicated && !isTakeover(st.record) {
            guard replicate(&st, now: now) else { return }
        }
        let takeover = isTakeover(st.record)
        if !takeover && !st.record.epochOpen
            && !st.record.epoch.quorumGroup.allSatisfy({ st.progress.setupAcks.contains($0) && ($0 == me || st.progress.createAcks.contains($0)) }) {
            announce(&st, now: now)
        }
        // Question 6: no lease for this epoch → Step 6.
        let target = LeaseTarget(epoch: st.record.epoch.id, successor: nil, group: st.record.epoch.quorumGroup)
        guard runProposer(&st, target: target, now: now) else { return }
        if takeover && !st.dbPrimary && st.dbRetryAt == nil {
            // Only now, holding the epoch's lease: its designated primary cannot hold it, so it
            // neither serves nor completes Step 9 meanwhile. Promoting when the takeover began
            // took a live primary's synchronous standby away just before it opened (issue 22).
            st.dbPrimary = true
            db(st.record.replica, .promote)
        }
        // Step 7: mark the new data quorum in-sync.
        if st.record.peerState != .inSync {
            guard markInSync(&st, now: now) else { return }
        }
        // Question 7: a prior epoch → Step 8.
        if let prior = st.record.prior {
            guard revokePrior(&st, prior: prior, now: now) else { return }
        }
        if takeover {
            startEpoch(&st, now: now, why: "finishing the epoch taken over from a dead primary")
            return
        }
        // Question 8: not open → Step 9 (Question 9, a member that never answers, shows up as an
        // unhealthy member in Question 3 and starts a new reconfiguration).
        if !st.record.epochOpen {
            guard openEpoch(&st, now: now) else { return }
        }
        serve(&st, now: now)
    }

    /// The safety rule: serve clients only while holding an unexpired lease of the open epoch
    /// that this server is primary of. Checked first on every step.
    private mutating func enforceFence(_ st: inout ReplicaState, now: Instant) {
        guard st.serving != nil else { return }
        if !mayServe(st, now: now) {
            fence(&st)
            note(st.record.replica, st.record.epoch.id, "fenced: no longer holding the lease of an open epoch")
        }
    }

    func mayServe(_ st: ReplicaState, now: Instant) -> Bool {
        guard let p = st.proposer, p.target.epoch == st.record.epoch.id, p.target.successor == nil, p.holds(at: now),
              st.record.primary == config.server, st.record.epochOpen, st.standDownUntil == nil else { return false }
        // Step 9 in this process covers the lease taken at Step 6, before the epoch was open at
        // the acceptors; a lease that any acceptor granted with the epoch closed never serves
        // (issue 15, bug 1: a returning old primary re-leased its closed epoch and served it).
        return p.leaseAllOpen || (st.progress.opened && !p.leaseSawClosed)
    }

    private mutating func serve(_ st: inout ReplicaState, now: Instant) {
        guard mayServe(st, now: now), let end = st.proposer?.leaseEnd else { return }
        if let current = st.serving {
            if end > current {
                st.serving = end
                db(st.record.replica, .extendLease(until: end))
            }
        } else {
            st.serving = end
            // Each stretch of service measures its own gaps: none from before a fence, or from
            // the Step 5 that led here, counts.
            st.laggingSince = [:]
            db(st.record.replica, .openToClients(until: end))
            note(st.record.replica, st.record.epoch.id, "serving as primary")
        }
    }

    /// Question 3 and Step 1.
    private mutating func considerReconfiguring(_ st: inout ReplicaState, now: Instant) {
        guard membershipKnown else { return }
        let me = config.server
        let rec = st.record
        // Asked on every tick for every replica: no arrays are built unless something is wrong.
        let group = rec.epoch.quorumGroup
        if rec.primary == me {
            if let until = st.standDownUntil, now < until { return }
            let allHealthy = !group.contains { goneFromGroup($0, st, now: now) }
            // Growing back to the spec's size waits until this epoch serves: a reconfiguration
            // restarted to grow whenever a flapping member looked healthy again, and shrank at the
            // next flap (issue 22: 111 "group below target size" and 120 "unresponsive" epochs on
            // two servers within a minute of a kill, one database never opening).
            let serving = st.serving != nil && rec.epochOpen && rec.prior == nil
            let canGrow = serving && group.count < rec.spec.quorumGroupSize && healthyServers.contains { !group.contains($0) }
            guard !allHealthy || canGrow else {
                considerLaggingDataQuorum(&st, now: now)
                return
            }
            let missing = group.filter { goneFromGroup($0, st, now: now) }
            // A revoke towards this epoch may already stand at some acceptors: finish Step 8
            // before starting another epoch, or the prior could be stuck with two successors.
            if rec.prior != nil && rec.peerState == .inSync { return }
            startEpoch(&st, now: now, why: missing.isEmpty ? "group below target size" : "unresponsive: \(missing.map(\.short).joined(separator: ","))")
            return
        }
        let asked = st.takeoverUntil.map { now < $0 } ?? false
        let seen = st.primarySeen ?? now
        st.primarySeen = seen
        let silent = now >= seen + config.leaseDuration * 3
        guard asked || silent || !isHealthy(rec.primary) else {
            st.troubleSince = nil
            return
        }
        if !asked && primaryLeasesHere(rec, now: now) {
            // This server's own acceptor granted the primary the epoch's lease and the grant
            // still runs: the primary renewed it less than a lease ago, so a failure detector
            // that calls it unhealthy may be wrong (a loaded node missing probes). Step 3 could
            // not lease the epoch before the grant ends anyway, so waiting for it costs a dead
            // primary's failover nothing, and a live one is left alone (issue 22: a takeover
            // begun on a 360 ms false suspicion promoted the serving primary's standby).
            return
        }
        if !asked {
            let home = rec.spec.homeServer.map(ServerID.init)
            let candidates = rec.epoch.dataQuorum.filter { isHealthy($0) }.sorted { a, b in
                if (a == home) != (b == home) { return a == home }
                return a < b
            }
            if candidates.first != me {
                // Another member should act; take over only if it does not within three leases.
                let since = st.troubleSince ?? now
                st.troubleSince = since
                if now < since + config.leaseDuration * 3 { return }
            }
        }
        st.troubleSince = nil
        st.takeoverUntil = nil
        if rec.prior != nil && rec.peerState == .inSync {
            // The primary died after Step 7: continue its epoch from Step 3 with its ID, the
            // only successor the prior epoch may now accept (PDF, Reliability). Step 7 already
            // ran (peers are in-sync), so Step 5 is not repeated: the data quorum may include
            // the dead primary, and members still stream from it. This server only finishes
            // Step 8 and then starts a fresh epoch (full Step 5) instead of opening. It is a
            // takeover because the record names it primary of an epoch another server numbered
            // (see `isTakeover`), which survives a restart. The primary may only look dead (a
            // failure detector under load): nothing is promoted or announced before this
            // server holds the epoch's lease, and the takeover is given up when the primary
            // shows it goes on (it opens the epoch here, or sends Step 5 or 7 messages).
            st.record.primary = me
            st.progress = Progress(epoch: rec.epoch.id)
            st.proposer = nil
            persist(st.record)
            note(rec.replica, rec.epoch.id, "taking over the unfinished epoch from \(rec.primary.short)")
            return
        }
        st.primarySeen = now
        startEpoch(&st, now: now, why: asked ? "switchover requested by \(rec.primary.short)" : silent ? "primary \(rec.primary.short) silent" : "primary \(rec.primary.short) unresponsive")
    }

    /// Whether this server's acceptor holds an unexpired grant of the record's epoch to its
    /// primary, for the epoch itself (not a Step 3 lease on behalf of a successor).
    private func primaryLeasesHere(_ rec: ReplicaRecord, now: Instant) -> Bool {
        guard let a = acceptors[rec.replica]?.epoch(rec.epoch.id)?.accepted else { return false }
        return a.owner == rec.primary && a.successor == nil && now < a.expiry
    }

    /// Question 3 for a group whose servers are all healthy: a data-quorum member that has not
    /// been caught up for `dataQuorumStall` (its Postgres hangs, or cannot write) holds every
    /// commit, so its synchronous place goes to an async member that is caught up, in a new
    /// epoch by this primary (the usual Steps 1-9: safe whatever the trigger).
    ///
    /// When no caught-up member can take the place, a serving primary never just waits for ever
    /// (issue 22: a member that had promoted its copy in this very epoch held every commit for
    /// good). It first points the member at itself again (the epoch's Replica Create, which a
    /// member that took the epoch over also obeys); if the member is still not caught up after
    /// two stalls and another member can take its place, that member does, in a new epoch whose
    /// Step 5 waits for it to catch up. Not when the new data quorum would be the same: a new
    /// epoch would then only close the primary to wait for the same member.
    ///
    /// Asked while serving an open, in-sync epoch, and while Step 5 of this server's own epoch
    /// waits for its data quorum: a server that took over while a data-quorum member's Postgres
    /// hung kept that member (its server is healthy), and its Step 5 waited, with no primary,
    /// until the hang ended.
    private mutating func considerLaggingDataQuorum(_ st: inout ReplicaState, now: Instant) {
        let me = config.server
        let rec = st.record
        let serving = st.serving != nil && rec.epochOpen && rec.peerState == .inSync && rec.prior == nil
        // Step 5 proper: the prior is closed and this server's database is the primary and
        // reports a caught-up standby, so the gap is measured from when the members could be
        // caught up, not from the promote. (A takeover of an unfinished epoch skips Step 5 and
        // starts a fresh epoch after Step 8.)
        let atStepFive = !rec.epochOpen && rec.peerState == .catchUp && st.progress.priorClosed && !st.progress.replicated
            && !isTakeover(rec) && st.dbPrimary && !st.caughtUp.isEmpty
        // `laggingSince` starts afresh when service starts and with every new epoch, so each
        // Step 5 and each stretch of service measures only its own gaps.
        guard let stall = config.dataQuorumStall, serving || atStepFive, st.handover == nil, st.giveWay == nil else { return }
        var lagging: Set<ServerID> = []
        for s in rec.epoch.dataQuorum where s != me {
            if st.caughtUp.contains(s) { st.laggingSince[s] = nil; continue }
            let since = st.laggingSince[s] ?? now
            st.laggingSince[s] = since
            if now >= since + stall { lagging.insert(s) }
        }
        guard !lagging.isEmpty else { return }
        if serving { pointAgain(&st, lagging, stall: stall, now: now) }
        guard atStepFive || st.laggingMoves.allowed(at: now, stall: stall) else { return }
        let home = rec.spec.homeServer.map(ServerID.init)
        guard let chosen = QuorumGroup.choose(me: me, current: rec.epoch, healthy: healthyServers, spec: rec.spec, home: home,
                                              lagging: lagging, caughtUp: st.caughtUp),
              chosen.dataQuorum != rec.epoch.dataQuorum else { return }
        let names = lagging.sorted().map(\.short).joined(separator: ",")
        var why = "data-quorum member \(names) not caught up for \(stall.milliseconds) ms"
        if !chosen.dataQuorum.allSatisfy({ $0 == me || st.caughtUp.contains($0) }) {
            let stuck = lagging.contains { now >= (st.laggingSince[$0] ?? now) + stall * 2 }
            guard serving, stuck else { return }
            why = "data-quorum member \(names) not caught up for \((stall * 2).milliseconds) ms and no caught-up member to take its place; writes were held"
        }
        if serving { st.laggingMoves.record(at: now, stall: stall) }
        startEpoch(&st, now: now, why: why, choice: chosen)
    }

    /// A serving primary's data-quorum members that stopped catching up get the epoch's Replica
    /// Create again, once per stall: a member that follows another server, or took this epoch
    /// over and promoted, streams from this primary again (the Create's repeat and takeover rules).
    private mutating func pointAgain(_ st: inout ReplicaState, _ lagging: Set<ServerID>, stall: Span, now: Instant) {
        guard st.pointedAgainAt.map({ now >= $0 + stall }) ?? true else { return }
        st.pointedAgainAt = now
        let create = replicaCreate(st)
        for s in lagging.sorted() { send(.replicaCreate(create), to: s) }
        note(st.record.replica, st.record.epoch.id, "data-quorum member \(lagging.sorted().map(\.short).joined(separator: ",")) has not streamed from this primary for \(stall.milliseconds) ms: sending it this epoch's Create again")
    }

    /// This epoch's Replica Create, as Step 5 sends it.
    private func replicaCreate(_ st: ReplicaState) -> ReplicaCreate {
        let epoch = st.record.epoch
        return ReplicaCreate(replica: st.record.replica, source: config.server, epoch: epoch.id, quorumGroup: epoch.quorumGroup,
                             dataQuorum: epoch.dataQuorum, asyncMembers: epoch.asyncMembers,
                             priorEpoch: st.record.prior?.id, priorQuorumGroup: st.record.prior?.quorumGroup ?? [],
                             spec: st.record.spec)
    }

    /// Steps 1 and 2: choose the new epoch (unless the caller already has) and persist it with
    /// its prior.
    private mutating func startEpoch(_ st: inout ReplicaState, now: Instant, why: String, choice: EpochInfo? = nil) {
        let rec = st.record
        let home = rec.spec.homeServer.map(ServerID.init)
        guard var chosen = choice ?? QuorumGroup.choose(me: config.server, current: rec.epoch, healthy: healthyServers, spec: rec.spec, home: home,
                                                        caughtUp: st.caughtUp) else {
            if st.progress.lastSent[1].map({ now >= $0 + config.leaseDuration }) ?? true {
                st.progress.lastSent[1] = now
                note(rec.replica, rec.epoch.id, "cannot reconfigure (\(why)): too few healthy servers")
            }
            return
        }
        // Above everything seen: this epoch and its prior, any epoch named in messages, and what
        // this server's acceptor has set up (it refuses to set up anything older).
        let local = acceptors[rec.replica]?.highestSetup.map { [$0] } ?? []
        chosen.id = freshEpochID(after: [rec.epoch.id] + (rec.prior.map { [$0.id] } ?? []) + local, sequence: st.epochSeen)
        // Step 2: the prior epoch is replaced only when it is empty (i.e. was revoked).
        let prior = rec.prior ?? EpochInfo(id: rec.epoch.id, quorumGroup: rec.epoch.quorumGroup, dataQuorum: rec.epoch.dataQuorum, asyncMembers: rec.epoch.asyncMembers)
        st.record.epoch = chosen
        st.record.prior = prior
        st.record.primary = config.server
        st.record.peerState = .catchUp
        st.record.epochOpen = false
        st.progress = Progress(epoch: chosen.id)
        // A member measured at an earlier Step 5 starts afresh in this epoch's data quorum.
        st.laggingSince = [:]
        persist(st.record)
        note(rec.replica, chosen.id, "Step 1-2: new epoch (\(why)) group [\(chosen.quorumGroup.map(\.short).joined(separator: ","))] data quorum [\(chosen.dataQuorum.map(\.short).joined(separator: ","))] prior \(prior.id.short)")
    }

    /// True when `step`'s requests are due (first time, or the retry interval passed).
    private func due(_ st: ReplicaState, _ step: Int, now: Instant) -> Bool {
        st.progress.lastSent[step].map { now >= $0 + config.retryInterval } ?? true
    }

    private mutating func sendEach(_ st: inout ReplicaState, step: Int, to servers: [ServerID], except acked: Set<ServerID>, now: Instant, _ message: KetchMessage) {
        guard due(st, step, now: now) else { return }
        st.progress.lastSent[step] = now
        for s in servers where !acked.contains(s) { send(message, to: s) }
    }

    /// Steps 3 and 4: lease the prior epoch on behalf of this epoch, then close it at a quorum.
    private mutating func closePrior(_ st: inout ReplicaState, prior: EpochInfo, now: Instant) -> Bool {
        let id = st.record.replica
        let target = LeaseTarget(epoch: prior.id, successor: st.record.epoch.id, group: prior.quorumGroup)
        guard runProposer(&st, target: target, now: now) else { return false }
        let m = EpochRequest(replica: id, source: config.server, epoch: prior.id)
        sendEach(&st, step: 4, to: prior.quorumGroup, except: st.progress.closeAcks, now: now, .epochClose(m))
        guard st.progress.closeAcks.count >= prior.quorum else { return false }
        st.progress.priorClosed = true
        note(id, st.record.epoch.id, "Step 3-4: prior epoch \(prior.id.short) leased and closed")
        return true
    }

    /// Step 5: become the database primary, make every data-quorum member a synchronous standby,
    /// tell the members about the epoch (Replica Create) and set up its acceptors.
    private mutating func replicate(_ st: inout ReplicaState, now: Instant) -> Bool {
        let me = config.server
        let id = st.record.replica
        let epoch = st.record.epoch
        if !st.dbPrimary {
            guard st.dbRetryAt == nil else { return false }
            st.dbPrimary = true
            db(id, .promote)
        }
        let others = epoch.dataQuorum.filter { $0 != me }
        let sync = config.mutation == .ackBeforeDataQuorum ? [] : others
        if st.syncSet != sync {
            st.syncSet = sync
            db(id, .setSynchronousStandbys(sync))
        }
        if st.record.epochOpen && st.record.peerState == .inSync {
            // Restarted primary of an open epoch: the members already have the epoch and stream
            // synchronously; only the local database needed configuring again.
            st.progress.replicated = true
            return true
        }
        announce(&st, now: now)
        let ready = others.allSatisfy { st.progress.createAcks.contains($0) && st.caughtUp.contains($0) }
            && st.progress.setupAcks.count >= epoch.quorum
        guard ready else { return false }
        st.progress.replicated = true
        note(id, epoch.id, "Step 5: data quorum caught up")
        return true
    }

    /// Step 5's messages: Replica Create to the members and Epoch Setup to the acceptors,
    /// repeated until every member of the group has answered both (Step 9 needs all of them).
    private mutating func announce(_ st: inout ReplicaState, now: Instant) {
        let me = config.server
        let id = st.record.replica
        let epoch = st.record.epoch
        guard due(st, 5, now: now) else { return }
        st.progress.lastSent[5] = now
        let create = replicaCreate(st)
        // Data members that answered but do not stream from us yet get it again: a stale
        // Create from another server may have pointed them elsewhere.
        for s in epoch.quorumGroup where s != me && (!st.progress.createAcks.contains(s) || (epoch.dataQuorum.contains(s) && !st.caughtUp.contains(s))) {
            send(.replicaCreate(create), to: s)
        }
        let setup = EpochSetup(replica: id, source: me, epoch: epoch.id, prior: st.record.prior?.id)
        for s in epoch.quorumGroup where !st.progress.setupAcks.contains(s) { send(.epochSetup(setup), to: s) }
    }

    /// Step 7.
    private mutating func markInSync(_ st: inout ReplicaState, now: Instant) -> Bool {
        let me = config.server
        let id = st.record.replica
        let others = st.record.epoch.dataQuorum.filter { $0 != me }
        let m = EpochRequest(replica: id, source: me, epoch: st.record.epoch.id)
        if let gone = others.first(where: { st.progress.leftEpoch.contains($0) && !st.progress.inSyncAcks.contains($0) }) {
            // The member moved to a newer epoch and refuses this one for good (its record only
            // moves forward, so a repeated Create would be refused too): Step 7 can never
            // complete, and the lease renewed meanwhile would keep the others out (seed 11914:
            // s3 took 10@s3 a few ms after accepting 9@s1, s1 sent UpdateInSync for 30 s).
            // Start again, like Question 9: before Step 7 completes no revoke towards this
            // epoch was sent, so the prior stays and the new epoch is one more candidate
            // successor, numbered above the member's if any message named it.
            startEpoch(&st, now: now, why: "Step 7: \(gone.short) left this epoch")
            return false
        }
        sendEach(&st, step: 7, to: others, except: st.progress.inSyncAcks, now: now, .replicaUpdateInSync(m))
        guard others.allSatisfy({ st.progress.inSyncAcks.contains($0) }) else { return false }
        st.record.peerState = .inSync
        persist(st.record)
        note(id, st.record.epoch.id, "Step 6-7: lease held, data quorum marked in-sync")
        return true
    }

    /// Step 8: revoke the prior epoch at a quorum of its group, naming this epoch as successor.
    private mutating func revokePrior(_ st: inout ReplicaState, prior: EpochInfo, now: Instant) -> Bool {
        let id = st.record.replica
        let m = EpochRevoke(replica: id, source: config.server, epoch: prior.id, successor: st.record.epoch.id)
        sendEach(&st, step: 8, to: prior.quorumGroup, except: st.progress.revokeAcks, now: now, .epochRevoke(m))
        let enough = st.progress.revokeAcks.count >= prior.quorum
        if !enough, st.progress.revokeLost.filter({ prior.quorumGroup.contains($0) }).count > prior.quorumGroup.count - prior.quorum {
            // So many acceptors of the prior replaced it (`unknown-epoch`) or recorded another
            // successor that no quorum can ever record ours: this epoch can never open (seed
            // 11914: s2, continuing 7@s1, sent its revoke of 1@s2 for 30 s while renewing the
            // lease of 7@s1, which kept s3's Step 3 out). Which it was (the prior revoked to us
            // and forgotten since, or lost to another successor) cannot be told apart here, so
            // give up as on a lost lease: the copy is catch-up and waits for a newer epoch.
            supersededEpoch(&st, prior.id, successor: nil)
            st.proposer = nil
            return false
        }
        guard enough || config.mutation == .openBeforeRevokeQuorum else { return false }
        st.record.prior = nil
        persist(st.record)
        note(id, st.record.epoch.id, "Step 8: prior epoch \(prior.id.short) revoked")
        return true
    }

    /// Step 9: open the epoch at every member of its group.
    private mutating func openEpoch(_ st: inout ReplicaState, now: Instant) -> Bool {
        let id = st.record.replica
        let group = st.record.epoch.quorumGroup
        let m = EpochRequest(replica: id, source: config.server, epoch: st.record.epoch.id)
        if st.progress.openStarted == nil { st.progress.openStarted = now }
        sendEach(&st, step: 9, to: group, except: st.progress.openAcks, now: now, .epochOpen(m))
        guard group.allSatisfy({ st.progress.openAcks.contains($0) }) else {
            // Question 9: unable to open (a member is gone or holds a newer setup): start again
            // from Step 1 with this epoch as the prior.
            if let started = st.progress.openStarted, now >= started + config.leaseDuration, st.record.prior == nil {
                startEpoch(&st, now: now, why: "Question 9: could not open at \(group.filter { !st.progress.openAcks.contains($0) }.map(\.short).joined(separator: ","))")
            }
            return false
        }
        st.progress.opened = true
        if !st.record.epochOpen {
            st.record.epochOpen = true
            persist(st.record)
            note(id, st.record.epoch.id, "Step 9: epoch open")
        }
        return true
    }

    /// Runs one PaxosLease proposer towards `target`; returns whether the lease is held.
    mutating func runProposer(_ st: inout ReplicaState, target: LeaseTarget, now: Instant) -> Bool {
        if st.proposer?.target != target { st.proposer = LeaseProposer(target: target) }
        var p = st.proposer!
        if p.wantsRound(at: now, renewPeriod: config.renewPeriod, retry: config.retryInterval) {
            let ballot = freshBallot(above: p.highestSeen)
            for (s, m) in p.startPrepare(ballot: ballot, now: now, replica: st.record.replica, me: config.server) { send(m, to: s) }
        }
        st.proposer = p
        return p.holds(at: now)
    }
}
