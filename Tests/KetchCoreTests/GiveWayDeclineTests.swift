import KetchCore
import KetchShared
import Testing

// Seeds 37218, 52062, 68190 and 69443 (`ketch-sim --seed S` on d39b64b): a leader whose promote
// failed gave way to a member that could not lead (a catch-up copy, or a member whose own
// promote failed as well and who gave way back), and took the lead back only after four leases
// (12 s). Two or three failed promotes in a row then exceeded the 30 s recovery bound. A
// candidate that cannot lead now sends the request back, and the leader asks the next one at
// once or, with none left, leads again (promoting one lease after its failure).

private let r1 = ReplicaID("r1")
private let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
private let lease: Int64 = 3_000_000_000

private extension ScenarioCluster {
    /// The replica's Postgres on server `i` exits, as the scenario command `fail-db` does.
    mutating func failDatabase(_ i: Int) {
        nodes[i].primaryOf.remove(r1)
        nodes[i].following[r1] = nil
        feed(i, .database(.failed(r1, message: "promote failed"), now: instant))
    }

    func serving(_ i: Int) -> Bool { nodes[i].core?.isServing(r1) ?? false }
}

/// s1's database fails while it serves 1@s1; it gives way to s2, whose promote for 2@s2 fails
/// too. s2's only candidate is s1, a catch-up member of 2@s2 now: it says it cannot lead, and s2
/// leads again at once and serves after one lease instead of after four.
@Test func aCatchUpCandidateSendsTheRequestBack() throws {
    var c = ScenarioCluster(servers: 3)
    c.feed(0, .command(.createReplica(r1, spec), now: c.instant))
    _ = c.run(until: 1_000_000_000)
    #expect(c.serving(0))
    c.failDatabase(0)
    let started = c.run(until: c.now + 10 * lease) { $0.contains("s2 [r1 2@s2] Step 3-4") }
    #expect(started, "s2 took over from s1")
    c.failDatabase(1)
    let failedAt = c.now
    let declined = c.run(until: failedAt + lease) { $0.contains("s2 [r1 2@s2] giving way: s1 cannot lead") }
    #expect(declined, "s1, catch-up since it gave way, must say it cannot lead")
    let served = c.run(until: failedAt + 2 * lease) { $0.contains("s2 [r1 2@s2] serving as primary") }
    #expect(served, "s2 serves again within two leases of its failure (before: after four)")
    #expect(c.serving(1) && !c.serving(0))
}

/// s1's promote fails after Step 7 of 2@s1; s2, asked, takes the epoch over, and its promote
/// fails too. Both now lead 2@s1 and give way, asking each other. Only the lower ID, s1, leads
/// again at once (both doing so would deadlock: the lower ID refuses the other's Creates while
/// the other may hold the prior's lease); s2 follows s1's Create.
@Test func twoLeadersGivingWayToEachOtherLeaveItToTheLowerID() throws {
    var c = ScenarioCluster(servers: 3)
    c.feed(0, .command(.createReplica(r1, spec), now: c.instant))
    _ = c.run(until: 1_000_000_000)
    c.nodes[2].isolated = true
    let step7 = c.run(until: c.now + 10 * lease) { $0.contains("s1 [r1 2@s1] Step 6-7") }
    #expect(step7)
    c.failDatabase(0)
    let takenOver = c.run(until: c.now + lease) { $0.contains("s2 [r1 2@s1] taking over the unfinished epoch from s1") }
    #expect(takenOver)
    c.failDatabase(1)
    let failedAt = c.now
    let back = c.run(until: failedAt + lease) { $0.contains("s1 [r1 2@s1] giving way: no candidate can lead; leading again") }
    #expect(back, "s1 leads again once s2 gave way too")
    let served = c.run(until: failedAt + 3 * lease) { $0.contains("s1 [r1 2@s1] serving as primary") }
    #expect(served, "s1 serves again well within four leases")
    #expect(!c.transcript.contains { $0.contains("s2 [r1 2@s1] giving way: no candidate can lead") }, "s2 leaves it to s1")
    #expect(c.serving(0) && !c.serving(1))
}
