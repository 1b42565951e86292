import KetchCore
import KetchShared
import Testing

// Seeds 11914 (`ketch-sim --seed 11914 --no-database-failures`) and 33522 (`ketch-sim --seed
// 33522`): reconfigurations that waited for an answer that could never come, or could not
// continue the one epoch that still could.

private let r1 = ReplicaID("r1")
private let s1 = ServerID("s1"), s2 = ServerID("s2"), s3 = ServerID("s3")
private let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))

private func sent(_ out: CoreOutput, to server: ServerID, _ match: (KetchMessage) -> Bool) -> [KetchMessage] {
    out.send.filter { $0.to == server && match($0.message) }.map(\.message)
}

private func prepareBallot(_ out: CoreOutput, to server: ServerID, epoch: EpochID) -> Ballot? {
    for m in sent(out, to: server, { _ in true }) { if case .leasePrepare(let p) = m, p.epoch == epoch { return p.ballot } }
    return nil
}

private func sendsRevoke(_ out: CoreOutput) -> Bool {
    out.send.contains { if case .epochRevoke = $0.message { true } else { false } }
}

/// Step 7: a data-quorum member that answers UpdateInSync with `unknown-epoch` moved to a newer
/// epoch for good. The leader starts again (Step 1, the prior kept) instead of renewing its lease
/// and resending UpdateInSync forever, and numbers the new epoch above the one the member moved
/// to (named as successor in that reconfigurer's prepares). Before the fix s1 kept 2@s1 at Step 7
/// until s2's own epoch could take the prior's lease after the old grant ran out.
@Test func aLeaderWhoseMemberLeftAtStep7StartsAgainAboveIt() throws {
    var cluster = ScenarioCluster(servers: 5)
    cluster.feed(0, .command(.createReplica(r1, spec), now: cluster.instant))
    _ = cluster.run(until: 1_000_000_000)
    // s3 (the witness of 1@s1) goes away: s1 reconfigures to 2@s1 with s2 still in-sync.
    cluster.nodes[2].isolated = true
    let replicated = cluster.run(until: 5_000_000_000) { $0.contains("s1 [r1 2@s1] Step 5: data quorum caught up") }
    #expect(replicated)
    let second = try #require(cluster.nodes[1].core?.replicaRecord(r1))
    #expect(second.epoch.id == EpochID(sequence: 2, server: s1) && second.dataState == .inSync)

    // Just then s2's detector wrongly reports s1 down: s2, the only healthy in-sync member,
    // starts its own successor of 1@s1 at once and leaves 2@s1.
    let detected = cluster.nodes[1].id
    #expect(detected == s2)
    cluster.feed(1, .membership([s1: false, s2: true, s3: false, ServerID("s4"): true, ServerID("s5"): true], now: cluster.instant))
    let moved = try #require(cluster.nodes[1].core?.replicaRecord(r1))
    #expect(moved.epoch.id.server == s2 && moved.epoch.id > second.epoch.id, "s2 left 2@s1 for its own epoch")
    let start = cluster.now

    // s1 learns it at Step 7 and starts again within a few message delays.
    let restarted = cluster.run(until: start + 1_000_000_000) { $0.contains("Step 7: s2 left this epoch") }
    #expect(restarted, "s1 must start again instead of resending UpdateInSync")
    _ = cluster.run(until: start + 1_000_000_000)
    let leader = try #require(cluster.nodes[0].core)
    let record = try #require(leader.replicaRecord(r1))
    #expect(leader.isServing(r1), "served again within a second of the refusal")
    #expect(record.epoch.id > moved.epoch.id, "numbered above the epoch s2 moved to, so s2 follows it")
    #expect(cluster.nodes[1].core?.replicaRecord(r1)?.epoch.id == record.epoch.id)
}

/// Step 8: a server that took over 7@s1 (its primary looked dead after Step 7) finished Steps
/// 3-4, but before its revoke of 1@s2 went out the acceptors set up 9@s1 (prior 7@s1) and
/// forgot 1@s2. Every revoke is answered `unknown-epoch`: no quorum can ever record it, so the
/// server gives up on the epoch (catch-up, superseded) instead of renewing the lease of 7@s1 for
/// ever, which kept every other successor of 7@s1 from Step 3 (seed 11914's s2).
@Test func aTakeoverWhosePriorWasForgottenGivesUpAtStep8() throws {
    let prior = EpochID(sequence: 1, server: s2)
    let epoch = EpochID(sequence: 7, server: s1)
    let group = [s1, s2, s3]
    let record = ReplicaRecord(replica: r1, spec: spec,
                               epoch: EpochInfo(id: epoch, quorumGroup: group, dataQuorum: [s1, s2], asyncMembers: [s3]),
                               prior: EpochInfo(id: prior, quorumGroup: group, dataQuorum: [s2, s1]),
                               primary: s1, dataState: .inSync, peerState: .inSync, epochOpen: false, hasData: true)
    let acceptor = AcceptorRecord(replica: r1, current: AcceptorEpoch(id: epoch),
                                  prior: AcceptorEpoch(id: prior, state: .closed, successor: epoch), highestSetup: epoch)
    var core = KetchCore(config: CoreConfig(server: s2), bootID: "b1",
                         restoring: [.replica(record), .acceptor(acceptor), .boot(BootRecord(bootID: "b1", quietUntil: .zero))])
    var t = Instant(nanoseconds: 10_000_000_000)
    func step(_ event: (Instant) -> CoreEvent) -> CoreOutput {
        t = t + .milliseconds(2)
        return core.handle(event(t))
    }

    // s1 looks dead: s2 continues 7@s1 from Step 3 (lease 1@s2 for 7@s1, its own acceptor grants).
    var out = step { .membership([s1: false, s2: true, s3: true], now: $0) }
    #expect(out.notes.contains { $0.text.contains("taking over") })
    let b1 = try #require(prepareBallot(out, to: s3, epoch: prior))
    out = step { .received(from: s3, .leasePrepareReply(LeasePrepareReply(replica: r1, source: s3, epoch: prior, ballot: b1, highestPromised: b1)), now: $0) }
    out = step { .received(from: s3, .leaseProposeReply(LeaseProposeReply(replica: r1, source: s3, epoch: prior, ballot: b1, epochState: .closed)), now: $0) }
    out = step { .received(from: s3, .epochCloseReply(EpochReply(replica: r1, source: s3, epoch: prior)), now: $0) }
    #expect(out.notes.contains { $0.text.contains("Step 3-4") })
    // Step 6 leases 7@s1 itself. Meanwhile s1's Epoch Setup of 9@s1 (prior 7@s1) reaches s2's
    // acceptor, which keeps 7@s1 as its prior and forgets 1@s2 (as s3's did).
    let b2 = try #require(prepareBallot(out, to: s3, epoch: epoch))
    _ = step { .received(from: s1, .epochSetup(EpochSetup(replica: r1, source: s1, epoch: EpochID(sequence: 9, server: s1), prior: epoch)), now: $0) }
    #expect(core.acceptorRecords[r1]?.epoch(prior) == nil)
    out = step { .received(from: s3, .leasePrepareReply(LeasePrepareReply(replica: r1, source: s3, epoch: epoch, ballot: b2, highestPromised: b2)), now: $0) }
    out = step { .received(from: s3, .leaseProposeReply(LeaseProposeReply(replica: r1, source: s3, epoch: epoch, ballot: b2, epochState: .closed)), now: $0) }
    // Step 8: its own acceptor answers `unknown-epoch` inside the step; one lost acceptor of
    // three still leaves a quorum, so the server waits.
    #expect(sendsRevoke(out))
    #expect(core.replicaRecord(r1)?.dataState == .inSync)
    out = step { .received(from: s3, .epochRevokeReply(EpochRevokeReply(replica: r1, source: s3, epoch: prior, successor: epoch, refusal: .unknownEpoch)), now: $0) }
    // Two of three forgot 1@s2: the revoke can never reach a quorum.
    let after = try #require(core.replicaRecord(r1))
    #expect(after.dataState == .catchUp && after.superseded, "gives up the epoch")
    t = t + .seconds(1)
    out = step { .tick(now: $0) }
    #expect(!sendsRevoke(out), "no more revokes")
    #expect(!out.send.contains { if case .leasePrepare = $0.message { true } else { false } }, "no more lease rounds on 7@s1")
}

/// A Create for the same epoch from another server continuing it (a takeover, or the restarted
/// primary) keeps what Step 7 established: the data quorum is in-sync for this epoch. So when
/// that server dies too, this member still continues the epoch (the only successor its prior
/// may accept once a revoke stands) instead of starting a new successor of the prior. Seed
/// 33522: 2@s4 was revoked to 6@s4 at a quorum; s4 and s5, reset to catch-up peers by Creates of
/// 6@s4, each started a successor of 2@s4, were refused (`revoked-to-other`) and gave up.
@Test func aCreateForTheSameEpochKeepsStep7SoTheMemberCanStillTakeItOver() throws {
    let s4 = ServerID("s4"), s5 = ServerID("s5")
    let prior = EpochID(sequence: 1, server: s1)
    let epoch = EpochID(sequence: 2, server: s1)
    let group = [s1, s2, s3, s4, s5]
    let info = EpochInfo(id: epoch, quorumGroup: group, dataQuorum: [s1, s3, s4], asyncMembers: [s2, s5])
    let record = ReplicaRecord(replica: r1, spec: spec, epoch: info, prior: EpochInfo(id: prior, quorumGroup: group, dataQuorum: [s1, s3, s4]),
                               primary: s1, dataState: .inSync, peerState: .inSync, epochOpen: false, hasData: true)
    var core = KetchCore(config: CoreConfig(server: s3), bootID: "b1",
                         restoring: [.replica(record), .boot(BootRecord(bootID: "b1", quietUntil: .zero))])
    let t = Instant(nanoseconds: 10_000_000_000)
    _ = core.handle(.membership(Dictionary(uniqueKeysWithValues: group.map { ($0, true) }), now: t))
    // s4 continues 2@s1 and sends its Create.
    let create = ReplicaCreate(replica: r1, source: s4, epoch: epoch, quorumGroup: group, dataQuorum: info.dataQuorum,
                               asyncMembers: info.asyncMembers, priorEpoch: prior, priorQuorumGroup: group, spec: spec)
    _ = core.handle(.received(from: s4, .replicaCreate(create), now: t + .milliseconds(1)))
    let member = try #require(core.replicaRecord(r1))
    #expect(member.primary == s4 && member.dataState == .inSync)
    #expect(member.peerState == .inSync, "Step 7 of 2@s1 still stands")
    // s1 and s4 die: s3 continues 2@s1 itself rather than starting another successor of 1@s1.
    var down = Dictionary(uniqueKeysWithValues: group.map { ($0, true) })
    down[s1] = false
    down[s4] = false
    let out = core.handle(.membership(down, now: t + .milliseconds(2)))
    #expect(out.notes.contains { $0.text.contains("taking over the unfinished epoch") })
    #expect(core.replicaRecord(r1)?.epoch.id == epoch)
}
