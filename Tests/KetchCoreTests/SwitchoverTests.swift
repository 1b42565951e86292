import KetchCore
import KetchShared
import Testing

private func isRelease(_ m: KetchMessage) -> Bool { if case .leaseRelease = m { true } else { false } }

/// A step's output sends before it touches the database, so the release must not leave in the
/// step that fences: only after the node reported the fence done.
@Test func switchoverReleasesTheLeaseOnlyAfterTheFenceIsReported() throws {
    var cluster = ScenarioCluster(servers: 3)
    let id = ReplicaID("r1")
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    cluster.feed(0, .command(.createReplica(id, spec), now: cluster.instant))
    _ = cluster.run(until: 1_000_000_000)
    var core = try #require(cluster.nodes[0].core)
    #expect(core.isServing(id))
    let t = cluster.instant
    let command = core.handle(.command(.switchover(id, to: ServerID("s2")), now: t))
    #expect(command.database.map(\.action).contains(.fence))
    #expect(!command.send.contains { isRelease($0.message) }, "no release in the step that fences")
    #expect(!command.send.contains { if case .switchover = $0.message { true } else { false } })
    let tick = core.handle(.tick(now: t + .milliseconds(5)))
    #expect(!tick.send.contains { isRelease($0.message) }, "no release before the fence is reported")
    let fenced = core.handle(.database(.fenced(id), now: t + .milliseconds(6)))
    let releases = fenced.send.filter { isRelease($0.message) }.map(\.to)
    #expect(Set(releases) == [ServerID("s2"), ServerID("s3")], "released at every other acceptor (and its own inside the step)")
}

/// With `release-before-fence` the release leaves in the fencing step: the mutation the
/// simulator's `fenced-before-release` check must catch.
@Test func theReleaseBeforeFenceMutationReleasesInTheFencingStep() throws {
    var cluster = ScenarioCluster(servers: 3)
    let id = ReplicaID("r1")
    let spec = ReplicaSpec(name: "db", quorumGroupSize: 3, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433))
    cluster.feed(0, .command(.createReplica(id, spec), now: cluster.instant))
    _ = cluster.run(until: 1_000_000_000)
    let records = cluster.nodes[0].store.keys.sorted().map { cluster.nodes[0].store[$0]! }
    var mutated = KetchCore(config: CoreConfig(server: ServerID("s1"), mutation: .releaseBeforeFence), bootID: "boot-1", restoring: records)
    _ = mutated.handle(.membership([ServerID("s2"): true, ServerID("s3"): true], now: cluster.instant))
    // The restored core must take the lease again before it serves; drive it through the cluster.
    cluster.nodes[0].core = mutated
    _ = cluster.run(until: 2_000_000_000)
    var core = try #require(cluster.nodes[0].core)
    #expect(core.isServing(id))
    let out = core.handle(.command(.switchover(id, to: ServerID("s2")), now: cluster.instant))
    #expect(out.database.map(\.action).contains(.fence))
    #expect(out.send.contains { isRelease($0.message) })
}
