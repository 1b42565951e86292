import KetchShared
import Testing

@Suite struct NodeStatusApplyTests {
    @Test func deltasUpsertAndRemoveByKey() {
        var status = WireFixtures.status
        var changed = WireFixtures.member
        changed.health = .dead
        status.apply(.member(changed))
        #expect(status.members == [changed])
        let newcomer = MemberStatus(server: ServerID("x"), name: "server9", endpoint: Endpoint(addr: "h", port: 1),
                                    apiEndpoint: Endpoint(addr: "h", port: 2), health: .alive, incarnation: 0, lastHeardMs: nil)
        status.apply(.member(newcomer))
        #expect(status.members.map(\.name) == ["server2", "server9"])
        status.apply(.memberRemoved(WireFixtures.server2))
        #expect(status.members.map(\.name) == ["server9"])
        status.apply(.replicaRemoved(WireFixtures.replica))
        #expect(status.replicas.isEmpty)
        status.apply(.replica(WireFixtures.replicaStatus))
        #expect(status.replicas == [WireFixtures.replicaStatus])
    }

    @Test func eventsAreAppendedAndBounded() {
        var status = WireFixtures.status
        for i in 0..<10 {
            status.apply(.event(ClusterEvent(atUnixMs: Int64(i), kind: .membership, replica: nil, text: "e\(i)")), maxEvents: 5)
        }
        #expect(status.events.map(\.text) == ["e5", "e6", "e7", "e8", "e9"])
    }
}
