import KetchCore
import KetchShared
import Testing

private let r1 = ReplicaID("r1")
private let s1 = ServerID("s1"), s3 = ServerID("s3")
private let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))

/// Step 1 numbers the new epoch above every epoch named in messages about the replica: an
/// acceptor refuses to set up an epoch older than one it set up, and a member refuses an older
/// Create, without saying how much newer theirs is. Seed 25588: s4 had received s1's prepares
/// naming successor 14@s1 and still went 2@s4, 3@s4, ... one Question 9 round (4.5 s) at a time,
/// each refused by s1's acceptor (`older-epoch`).
@Test func aNewEpochIsNumberedAboveEveryEpochSeen() throws {
    var cluster = ScenarioCluster(servers: 4)
    cluster.feed(0, .command(.createReplica(r1, spec), now: cluster.instant))
    _ = cluster.run(until: 1_000_000_000)
    #expect(cluster.nodes[0].core?.isServing(r1) == true)
    // A stale reconfigurer's prepare for 1@s1 names its successor 14@s3 (refused: s1 holds the lease).
    let stale = EpochID(sequence: 14, server: s3)
    let prepare = LeasePrepare(replica: r1, source: s3, epoch: EpochID(sequence: 1, server: s1),
                               ballot: Ballot(sequence: 1, server: s3), successor: stale)
    cluster.feed(0, .received(from: s3, .leasePrepare(prepare), now: cluster.instant))
    cluster.nodes[1].isolated = true
    let started = cluster.run(until: 3_000_000_000) { $0.contains("s1 [r1") && $0.contains("Step 1-2: new epoch") }
    #expect(started)
    let next = try #require(cluster.nodes[0].core?.replicaRecord(r1)?.epoch.id)
    #expect(next > stale, "new epoch \(next) must be above \(stale)")
}
