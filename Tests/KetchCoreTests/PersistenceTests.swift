import Foundation
import KetchCore
import KetchShared
import Testing

/// Persisted records survive JSON (what the node stores in SQLite), and a core restored from
/// them carries on: same replica records, no reuse of ballots or epoch numbers.
@Test func recordsRoundTripAndRestore() throws {
    var cluster = ScenarioCluster(servers: 4)
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    cluster.feed(0, .command(.createReplica(ReplicaID("r1"), spec), now: cluster.instant))
    _ = cluster.run(until: 2_000_000_000)
    let records = cluster.nodes[0].store.keys.sorted().map { cluster.nodes[0].store[$0]! }
    #expect(records.contains { if case .acceptor = $0 { true } else { false } })
    #expect(records.contains { if case .replica = $0 { true } else { false } })
    let data = try JSONEncoder().encode(records)
    let decoded = try JSONDecoder().decode([PersistRecord].self, from: data)
    #expect(decoded == records)
    #expect(Set(records.map(\.key)).count == records.count, "one record per key")

    let before = cluster.nodes[0].core!.replicaRecords
    var restored = KetchCore(config: CoreConfig(server: ServerID("s1")), bootID: "boot-1", restoring: decoded)
    #expect(restored.replicaRecords == before)
    #expect(restored.acceptorRecords == cluster.nodes[0].core!.acceptorRecords)
    #expect(!restored.isServing(ReplicaID("r1")), "a restarted core never serves before re-acquiring its lease")
    // Same boot: the stored grants and quiet period are trusted, no new boot record is needed.
    let out = restored.handle(.tick(now: cluster.instant))
    #expect(!out.persist.contains { if case .boot = $0 { true } else { false } })
    #expect(restored.acceptorQuietUntil != nil && restored.acceptorQuietUntil! <= cluster.instant)
}

@Test func aRebootDropsGrantsAndStaysQuiet() throws {
    var cluster = ScenarioCluster(servers: 3)
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    cluster.feed(0, .command(.createReplica(ReplicaID("r1"), spec), now: cluster.instant))
    _ = cluster.run(until: 1_500_000_000)
    let records = cluster.nodes[1].store.keys.sorted().map { cluster.nodes[1].store[$0]! }
    let granted = records.contains { if case .acceptor(let a) = $0 { a.current?.accepted != nil } else { false } }
    #expect(granted)
    var rebooted = KetchCore(config: CoreConfig(server: ServerID("s2")), bootID: "boot-2", restoring: records)
    #expect(rebooted.acceptorRecords.values.allSatisfy { $0.current?.accepted == nil && $0.prior?.accepted == nil })
    let now = Instant(nanoseconds: 10_000_000_000)
    _ = rebooted.handle(.tick(now: now))
    let quiet = try #require(rebooted.acceptorQuietUntil)
    #expect(quiet - now >= CoreConfig(server: ServerID("s2")).leaseDuration)
    let e = try #require(rebooted.acceptorRecords[ReplicaID("r1")]?.current?.id)
    let m = LeasePrepare(replica: ReplicaID("r1"), source: ServerID("s3"), epoch: e, ballot: Ballot(sequence: 99_999, server: ServerID("s3")), successor: nil)
    let out = rebooted.handle(.received(from: ServerID("s3"), .leasePrepare(m), now: now + .seconds(1)))
    guard case .leasePrepareReply(let reply)? = out.send.first?.message else { Issue.record("no reply"); return }
    #expect(reply.refusal == .rebooting)
}

@Test func theAcceptorPersistsBeforeItReplies() throws {
    var core = KetchCore(config: CoreConfig(server: ServerID("s2")), bootID: "b")
    let r = ReplicaID("r1"), e = EpochID(sequence: 1, server: ServerID("s1"))
    _ = core.handle(.tick(now: Instant(nanoseconds: 1)))
    let setup = core.handle(.received(from: ServerID("s1"), .epochSetup(EpochSetup(replica: r, source: ServerID("s1"), epoch: e, prior: nil)), now: Instant(nanoseconds: 2)))
    #expect(setup.persist.count == 1 && setup.send.count == 1)
    let prep = LeasePrepare(replica: r, source: ServerID("s1"), epoch: e, ballot: Ballot(sequence: 1, server: ServerID("s1")), successor: nil)
    let out = core.handle(.received(from: ServerID("s1"), .leasePrepare(prep), now: Instant(nanoseconds: 3)))
    #expect(out.persist.contains { if case .acceptor(let a) = $0 { a.current?.promised == prep.ballot } else { false } })
    #expect(out.send.count == 1)
}
