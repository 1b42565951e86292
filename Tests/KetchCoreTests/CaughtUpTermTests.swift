@testable import KetchCore
import KetchShared
import Testing

/// Seed 40422 (`ketch-sim --seed 40422` on 2599006): Step 5 counted a standby as caught up from a
/// `replication` report of an earlier term as primary. s1 stopped being primary (switchover),
/// followed the new primary, and much later promoted for its own epoch; the promote failed, no
/// new report came, and the old list made Step 5 and Step 7 pass with a stale copy in the data
/// quorum, which then led and served without an acknowledged write. A server that stops being
/// the database primary forgets the list, and reports that arrive while it is not the primary
/// (a poll racing the follow) are not counted.
@Test func aFormerPrimaryForgetsWhichStandbysHadCaughtUp() throws {
    var cluster = ScenarioCluster(servers: 3)
    let id = ReplicaID("r1")
    let s2 = ServerID("s2")
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    cluster.feed(0, .command(.createReplica(id, spec), now: cluster.instant))
    _ = cluster.run(until: 1_000_000_000)
    let primary = try #require(cluster.nodes[0].core?.replicas[id])
    #expect(primary.dbPrimary && primary.caughtUp.contains(s2), "s1 leads and s2 streams from it")

    cluster.feed(0, .command(.switchover(id, to: s2), now: cluster.instant))
    _ = cluster.run(until: 4_000_000_000)
    #expect(cluster.nodes[1].core?.isServing(id) == true)
    var former = try #require(cluster.nodes[0].core)
    let member = try #require(former.replicas[id])
    #expect(!member.dbPrimary && member.record.primary == s2)
    #expect(member.caughtUp.isEmpty, "the list of its term as primary is gone")

    // A poll made just before the follow reports the old standbys: not counted.
    _ = former.handle(.database(.replication(id, caughtUp: [s2]), now: cluster.instant))
    #expect(former.replicas[id]?.caughtUp.isEmpty == true)
}
