import KetchShared

enum FeedFixtures {
    static func member(_ i: Int, health: MemberHealth = .alive) -> MemberStatus {
        MemberStatus(server: ServerID("id-\(i)"), name: "server\(i)",
                     endpoint: Endpoint(addr: "127.0.2.\(i)", port: 7459), apiEndpoint: Endpoint(addr: "127.0.2.\(i)", port: 7460),
                     health: health, incarnation: 1, lastHeardMs: i == 1 ? nil : 20)
    }

    static func status(members: Int, events: [ClusterEvent] = []) -> NodeStatus {
        NodeStatus(server: ServerID("id-1"), name: "server1", members: (1...members).map { member($0) }, replicas: [], events: events)
    }
}
