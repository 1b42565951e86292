import Testing
@testable import KetchCore
import KetchShared

private func s(_ x: String) -> ServerID { ServerID(x) }
private func spec(_ n: Int, async: Int? = nil) -> ReplicaSpec {
    ReplicaSpec(name: "db", quorumGroupSize: n, dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433), asyncMembers: async)
}

@Test(arguments: [1, 3, 5, 7])
func dataQuorumIsAMajority(size: Int) throws {
    let servers = (1...8).map { s("s\($0)") }
    let g = try #require(QuorumGroup.choose(me: s("s1"), current: nil, healthy: servers, spec: spec(size), home: nil))
    #expect(g.quorumGroup.count == size)
    #expect(g.dataQuorum.count == size / 2 + 1)
    #expect(g.dataQuorum.contains(s("s1")))
    #expect(Set(g.dataQuorum).isSubset(of: Set(g.quorumGroup)))
}

@Test func newGroupKeepsHealthyDataQuorumThenAsyncThenSpares() throws {
    let current = EpochInfo(id: EpochID(sequence: 1, server: s("a")), quorumGroup: [s("a"), s("b"), s("c")],
                            dataQuorum: [s("a"), s("b")], asyncMembers: [s("c")])
    // a (the primary) died; b reconfigures with c (async, promoted to sync) and spare d.
    let g = try #require(QuorumGroup.choose(me: s("b"), current: current, healthy: [s("b"), s("c"), s("d")], spec: spec(3), home: nil))
    #expect(g.quorumGroup == [s("b"), s("c"), s("d")])
    #expect(g.dataQuorum == [s("b"), s("c")])
    #expect(g.asyncMembers == [s("d")])
}

@Test func witnessesWhenAsyncMembersAreLimited() throws {
    let g = try #require(QuorumGroup.choose(me: s("a"), current: nil, healthy: [s("a"), s("b"), s("c"), s("d"), s("e")], spec: spec(5, async: 1), home: nil))
    #expect(g.dataQuorum.count == 3)
    #expect(g.asyncMembers.count == 1)
}

@Test func tooFewHealthyServersMeansNoGroup() {
    #expect(QuorumGroup.choose(me: s("a"), current: nil, healthy: [s("a")], spec: spec(3), home: nil) == nil)
    #expect(QuorumGroup.choose(me: s("a"), current: nil, healthy: [s("a"), s("b")], spec: spec(3), home: nil)?.quorumGroup.count == 2)
}

@Test func homeServerIsPreferredAmongSpares() throws {
    let g = try #require(QuorumGroup.choose(me: s("a"), current: nil, healthy: [s("a"), s("b"), s("c"), s("z")], spec: spec(3), home: s("z")))
    #expect(g.dataQuorum.contains(s("z")))
}

@Test func aLaggingDataQuorumMemberTradesPlacesWithAnAsyncMember() throws {
    let current = EpochInfo(id: EpochID(sequence: 1, server: s("a")), quorumGroup: [s("a"), s("b"), s("c")],
                            dataQuorum: [s("a"), s("b")], asyncMembers: [s("c")])
    let all = [s("a"), s("b"), s("c"), s("d")]
    let g = try #require(QuorumGroup.choose(me: s("a"), current: current, healthy: all, spec: spec(3), home: nil, lagging: [s("b")]))
    #expect(g.quorumGroup == [s("a"), s("b"), s("c")], "kept, ahead of the spare: its copy is nearly current")
    #expect(g.dataQuorum == [s("a"), s("c")])
    #expect(g.asyncMembers == [s("b")])
    // Nothing lagging: the same choice as before.
    let same = try #require(QuorumGroup.choose(me: s("a"), current: current, healthy: all, spec: spec(3), home: nil))
    #expect(same.dataQuorum == [s("a"), s("b")] && same.asyncMembers == [s("c")])
}

/// Among async members a caught-up one comes first: in a group of five whose first async member
/// (by name) is behind, the lagging data-quorum member's place goes to the second, caught up.
@Test func aCaughtUpAsyncMemberIsPreferredForADataQuorumPlace() throws {
    let current = EpochInfo(id: EpochID(sequence: 1, server: s("a")), quorumGroup: [s("a"), s("b"), s("c"), s("d"), s("e")],
                            dataQuorum: [s("a"), s("b"), s("c")], asyncMembers: [s("d"), s("e")])
    let all = [s("a"), s("b"), s("c"), s("d"), s("e")]
    let g = try #require(QuorumGroup.choose(me: s("a"), current: current, healthy: all, spec: spec(5), home: nil,
                                            lagging: [s("b")], caughtUp: [s("c"), s("e")]))
    #expect(g.dataQuorum == [s("a"), s("c"), s("e")])
    #expect(g.asyncMembers == [s("b"), s("d")])
    // With no report of who is caught up, names decide as before.
    let byName = try #require(QuorumGroup.choose(me: s("a"), current: current, healthy: all, spec: spec(5), home: nil, lagging: [s("b")]))
    #expect(byName.dataQuorum == [s("a"), s("c"), s("d")])
}
