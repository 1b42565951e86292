import Testing
@testable import KetchCore
import KetchShared

// Seed 25024 (`ketch-sim --seeds 400 --from 25001` with the proposer change of 63ca51a): 7@s1
// (prior 1@s3) leased and closed 1@s3, then went quiet; s3 led 4@s3 (prior 1@s3) to open and
// started 5@s3 (prior 4@s3). 7@s1's late Epoch Setups replaced 4@s3 at s4 and s5 (first as "a
// successor that never opened" next to the kept prior 1@s3, later by moving 5@s3 aside), and
// its late Creates pulled s4 and s5 out of 5@s3: every copy ended catch-up. The epochs that
// completed Step 8 form one chain of growing numbers, and every reconfigurer's prior is on it,
// so a setup or Create whose prior is older than a chain epoch known here is on a dead branch.

private let r = ReplicaID("r3")
private let s1 = ServerID("s1"), s3 = ServerID("s3"), s4 = ServerID("s4"), s5 = ServerID("s5")
private let e1 = EpochID(sequence: 1, server: s3), e4 = EpochID(sequence: 4, server: s3)
private let e5 = EpochID(sequence: 5, server: s3), e7 = EpochID(sequence: 7, server: s1)
private func t(_ ms: Int64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }

/// s4's acceptor: 1@s3 revoked to 4@s3, which opened.
private func acceptorWithOpen4() -> LeaseAcceptor {
    var x = LeaseAcceptor(record: AcceptorRecord(replica: r), me: s4, maxLease: .seconds(3), ignoreSuccessor: false)
    _ = x.setup(EpochSetup(replica: r, source: s3, epoch: e1, prior: nil))
    _ = x.setup(EpochSetup(replica: r, source: s3, epoch: e4, prior: e1))
    _ = x.revoke(EpochRevoke(replica: r, source: s3, epoch: e1, successor: e4), now: t(0), quiet: false)
    _ = x.open(EpochRequest(replica: r, source: s3, epoch: e4))
    return x
}

@Test func aSetupNextToTheKeptPriorDoesNotReplaceAnOpenEpoch() {
    var x = acceptorWithOpen4()
    #expect(x.record.current?.id == e4 && x.record.current?.state == .open && x.record.prior?.successor == e4)
    let (reply, changed) = x.setup(EpochSetup(replica: r, source: s1, epoch: e7, prior: e1))
    #expect(reply.refusal == .revokedToOther && !changed)
    #expect(x.record.current?.id == e4 && x.record.prior?.id == e1, "4@s3 and its prior stay")
}

@Test func aSetupWhosePriorIsOlderThanAChainEpochHereIsRefused() {
    var x = acceptorWithOpen4()
    // 5@s3 succeeds 4@s3 (closed by its Step 4); 4@s3 becomes the prior here.
    _ = x.close(EpochRequest(replica: r, source: s3, epoch: e4), now: t(10), quiet: false)
    let (ok, _) = x.setup(EpochSetup(replica: r, source: s3, epoch: e5, prior: e4))
    #expect(ok.refusal == nil && x.record.current?.id == e5 && x.record.prior?.id == e4)
    // Before the fix 7@s1 moved 5@s3 to the prior slot and dropped 4@s3.
    let (reply, changed) = x.setup(EpochSetup(replica: r, source: s1, epoch: e7, prior: e1))
    #expect(reply.refusal == .revokedToOther && !changed)
    #expect(x.record.current?.id == e5 && x.record.prior?.id == e4)
    // A setup succeeding the current epoch still moves it aside as before.
    let e8 = EpochID(sequence: 8, server: s3)
    let (next, moved) = x.setup(EpochSetup(replica: r, source: s3, epoch: e8, prior: e5))
    #expect(next.refusal == nil && moved && x.record.current?.id == e8 && x.record.prior?.id == e5)
}

@Test func aMemberBetweenStepsFiveAndNineRefusesACreateFromADeadBranch() throws {
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    var core = KetchCore(config: CoreConfig(server: s4), bootID: "b")
    func create(_ epoch: EpochID, from: ServerID, prior: EpochID?, priorGroup: [ServerID]) -> ReplicaCreate {
        ReplicaCreate(replica: r, source: from, epoch: epoch, quorumGroup: [from, s4, s5], dataQuorum: [from, s4],
                      asyncMembers: [s5], priorEpoch: prior, priorQuorumGroup: priorGroup, spec: spec)
    }
    _ = core.handle(.received(from: s3, .replicaCreate(create(e4, from: s3, prior: e1, priorGroup: [s3, s4, s5])), now: t(0)))
    _ = core.handle(.received(from: s3, .replicaCreate(create(e5, from: s3, prior: e4, priorGroup: [s3, s4, s5])), now: t(10)))
    let live = try #require(core.replicaRecords[r])
    #expect(live.epoch.id == e5 && live.prior?.id == e4 && !live.epochOpen)
    let out = core.handle(.received(from: s1, .replicaCreate(create(e7, from: s1, prior: e1, priorGroup: [s3, s4, s5])), now: t(20)))
    #expect(core.replicaRecords[r] == live, "the member stays in 5@s3")
    let refused = out.send.contains { if case .replicaCreateReply(let x) = $0.message { x.refusal == .olderEpoch } else { false } }
    #expect(refused)
    #expect(!out.database.contains { if case .follow = $0.action { true } else { false } })
}
