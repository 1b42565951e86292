import KetchShared
import Testing
@testable import KetchCore

// Issue 15, bug 3: Step 5 could pass on a caught-up report taken before the primary's own fence
// completed. `caughtUp` survived `startEpoch`: a standby reported caught up while the old epoch
// still acknowledged commits is not caught up with the last of them, and an epoch whose data
// quorum was counted on that report could open without them.

@Test func aPrimaryForgetsCaughtUpStandbysWhenItFencesAndUntilTheFenceIsDone() throws {
    var cluster = ScenarioCluster(servers: 4)
    let r = ReplicaID("r1"), s3 = ServerID("s3")
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    cluster.feed(0, .command(.createReplica(r, spec), now: cluster.instant))
    _ = cluster.run(until: 1_000_000_000)
    #expect(cluster.nodes[0].core?.replicas[r]?.caughtUp == [ServerID("s2"), s3])
    // s2 is cut off: s1 starts a new epoch (data quorum s1, s3) and fences in the same step.
    cluster.nodes[1].isolated = true
    let fenced = cluster.run(until: cluster.now + 2_000_000_000) { $0.contains("s1 db r1 fence") }
    #expect(fenced)
    var core = try #require(cluster.nodes[0].core)
    #expect(core.replicas[r]?.caughtUp.isEmpty == true, "before the fix s3 still counted from the last report while serving")
    // A report polled before the fence completed (the node confirms it with `.fenced`) is not counted.
    _ = core.handle(.database(.replication(r, caughtUp: [s3]), now: cluster.instant))
    #expect(core.replicas[r]?.caughtUp.isEmpty == true)
    _ = core.handle(.database(.fenced(r), now: cluster.instant))
    _ = core.handle(.database(.replication(r, caughtUp: [s3]), now: cluster.instant))
    #expect(core.replicas[r]?.caughtUp == [s3], "a report after the fence counts")
}
