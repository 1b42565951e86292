import KetchCore
import KetchShared
import Testing

// Pause seed 8077 (`scripts/faults --nemesis pause --duration 5m --seed 8077`): the Postgres of
// the synchronous standby was stopped (SIGSTOP) for ten leases on a healthy server, and every
// commit of the primary waited 20.1 s for it, with a caught-up async member right there.

private let r1 = ReplicaID("r1")
private let s1 = ServerID("s1"), s2 = ServerID("s2"), s3 = ServerID("s3")
private let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
private let second: Int64 = 1_000_000_000

/// A cluster of four with r1 created at s1: group [s1,s2,s3], data quorum [s1,s2], s3 async.
private func created(stall: Span?) throws -> ScenarioCluster {
    var cluster = ScenarioCluster(servers: 4, dataQuorumStall: stall)
    cluster.feed(0, .command(.createReplica(r1, spec), now: cluster.instant))
    _ = cluster.run(until: second)
    let rec = try #require(cluster.nodes[0].core?.replicaRecord(r1))
    #expect(rec.epoch.dataQuorum == [s1, s2] && rec.epoch.asyncMembers == [s3])
    #expect(cluster.nodes[0].core?.isServing(r1) == true)
    return cluster
}

/// The synchronous standby's database stops keeping up while its server stays healthy: after
/// `dataQuorumStall` the primary gives the synchronous place to the caught-up async member in a
/// new epoch of its own, keeps the stalled member in the group as async (its copy is kept for
/// when it recovers), and serves again. Before the fix nothing changed for as long as the
/// database was stuck.
@Test func aStalledSynchronousStandbyIsMovedOutOfTheCommitPath() throws {
    var cluster = try created(stall: .seconds(4))
    let first = try #require(cluster.nodes[0].core?.replicaRecord(r1)).epoch.id
    cluster.stalledDatabases = [1]
    let start = cluster.now
    let moved = cluster.run(until: start + 10 * second) { $0.contains("s1 [r1") && $0.contains("data-quorum member s2 not caught up for 4000 ms") }
    #expect(moved, "s1 must reconfigure around the stalled data-quorum member")
    #expect(cluster.now - start >= 4 * second, "not before dataQuorumStall")
    #expect(cluster.now - start < 5 * second, "within a tick or so of dataQuorumStall")
    _ = cluster.run(until: cluster.now + 2 * second)
    let rec = try #require(cluster.nodes[0].core?.replicaRecord(r1))
    #expect(rec.epoch.id > first && rec.primary == s1)
    #expect(rec.epoch.dataQuorum == [s1, s3], "the caught-up async member took the synchronous place")
    #expect(rec.epoch.asyncMembers == [s2], "the stalled member stays, as async")
    #expect(rec.epoch.quorumGroup == [s1, s2, s3])
    #expect(cluster.nodes[0].core?.isServing(r1) == true)
    // Settled: the stalled member is out of the commit path, so nothing more happens.
    let epochs = cluster.transcript.filter { $0.contains("Step 1-2: new epoch") }.count
    _ = cluster.run(until: cluster.now + 20 * second)
    #expect(cluster.transcript.filter { $0.contains("Step 1-2: new epoch") }.count == epochs)
    #expect(cluster.nodes[0].core?.replicaRecord(r1)?.epoch.id == rec.epoch.id)
}

/// A gap shorter than `dataQuorumStall` (a standby's postmaster restarted) is waited out.
@Test func aShortGapInTheCaughtUpSetIsWaitedOut() throws {
    var cluster = try created(stall: .seconds(4))
    let first = try #require(cluster.nodes[0].core?.replicaRecord(r1)).epoch.id
    cluster.stalledDatabases = [1]
    _ = cluster.run(until: cluster.now + 3 * second)
    cluster.stalledDatabases = []
    _ = cluster.run(until: cluster.now + 3 * second)
    // And the clock restarts: another 3 s gap later is waited out too.
    cluster.stalledDatabases = [1]
    _ = cluster.run(until: cluster.now + 3 * second)
    cluster.stalledDatabases = []
    _ = cluster.run(until: cluster.now + 2 * second)
    #expect(cluster.nodes[0].core?.replicaRecord(r1)?.epoch.id == first)
    #expect(cluster.nodes[0].core?.isServing(r1) == true)
}

/// With no caught-up member to take the place (the async member stalled too) nothing is
/// started: a new epoch would only wait at Step 5 with the primary closed. Nor without the
/// setting.
@Test func noReconfigurationWithoutACaughtUpReplacementOrTheSetting() throws {
    var both = try created(stall: .seconds(4))
    let first = try #require(both.nodes[0].core?.replicaRecord(r1)).epoch.id
    both.stalledDatabases = [1, 2]
    _ = both.run(until: both.now + 10 * second)
    #expect(both.nodes[0].core?.replicaRecord(r1)?.epoch.id == first)
    #expect(both.nodes[0].core?.isServing(r1) == true)

    var off = try created(stall: nil)
    let offFirst = try #require(off.nodes[0].core?.replicaRecord(r1)).epoch.id
    off.stalledDatabases = [1]
    _ = off.run(until: off.now + 10 * second)
    #expect(off.nodes[0].core?.replicaRecord(r1)?.epoch.id == offFirst)
}
