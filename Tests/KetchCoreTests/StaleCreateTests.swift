import KetchCore
import KetchShared
import Testing

/// Seeds 6509 and 8061 (`ketch-sim --seeds 10000 --from 1001`): a stale reconfigurer's Replica
/// Create, numbered above the live epoch but succeeding an epoch the live one had already
/// revoked, was accepted by the open primary, which left the live epoch for a dead branch.
@Test func anOpenPrimaryRefusesACreateFromADeadBranch() throws {
    var cluster = ScenarioCluster(servers: 4)
    let id = ReplicaID("r1")
    let s1 = ServerID("s1"), s2 = ServerID("s2"), s3 = ServerID("s3"), s4 = ServerID("s4")
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    cluster.feed(0, .command(.createReplica(id, spec), now: cluster.instant))
    _ = cluster.run(until: 1_000_000_000)
    // A switchover gives an open epoch on s2 whose prior (1@s1) was revoked to it.
    cluster.feed(0, .command(.switchover(id, to: s2), now: cluster.instant))
    _ = cluster.run(until: 3_000_000_000)
    var core = try #require(cluster.nodes[1].core)
    let live = try #require(core.replicaRecords[id])
    #expect(core.isServing(id) && live.epochOpen && live.prior == nil)
    let first = EpochID(sequence: 1, server: s1)
    #expect(live.epoch.id > first)

    // s3 had started its own successor of 1@s1 with a higher number, and its Create arrives late.
    let stale = EpochID(sequence: live.epoch.id.sequence + 5, server: s3)
    let create = ReplicaCreate(replica: id, source: s3, epoch: stale, quorumGroup: [s2, s3, s4], dataQuorum: [s2, s3],
                               asyncMembers: [s4], priorEpoch: first, priorQuorumGroup: [s1, s2, s3], spec: spec)
    let out = core.handle(.received(from: s3, .replicaCreate(create), now: cluster.instant))
    #expect(core.replicaRecords[id] == live, "the live epoch's record is kept")
    #expect(core.isServing(id))
    #expect(!out.database.map(\.action).contains(.fence))
    let refused = out.send.contains { if case .replicaCreateReply(let r) = $0.message { r.refusal == .olderEpoch } else { false } }
    #expect(refused)

    // A Create that succeeds the live epoch is still followed.
    let next = EpochID(sequence: stale.sequence + 1, server: s3)
    let successor = ReplicaCreate(replica: id, source: s3, epoch: next, quorumGroup: [s2, s3, s4], dataQuorum: [s2, s3],
                                  asyncMembers: [s4], priorEpoch: live.epoch.id, priorQuorumGroup: live.epoch.quorumGroup, spec: spec)
    _ = core.handle(.received(from: s3, .replicaCreate(successor), now: cluster.instant))
    #expect(core.replicaRecords[id]?.epoch.id == next)
}
