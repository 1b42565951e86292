import KetchConsole
import KetchShared

/// A four-member cluster (server1..server4) with three databases, built from feed messages the
/// way a running console would see them.
enum Fixture {
    static let names = ["server1", "server2", "server3", "server4"]
    static let ids = [
        "server1": ServerID("5a1c0e2f-6b1d-4c55-9d0e-1f2a3b4c5d61"),
        "server2": ServerID("7e2d9a40-1c3b-4f6e-8a2b-0c1d2e3f4a72"),
        "server3": ServerID("93b4f1c8-2d4e-4a7f-b1c2-3d4e5f6a7b83"),
        "server4": ServerID("c6d7e8f9-3e5f-4b80-a2d3-4e5f6a7b8c94"),
    ]
    static func id(_ name: String) -> ServerID { ids[name]! }
    static let t0 = ConsoleTime(monotonic: Instant(nanoseconds: 1_000_000_000_000), wallUnixMs: 1_790_000_000_000)

    static let mydb1 = ReplicaID("d1a2b3c4-0001-4000-8000-000000000001")
    static let mydb2 = ReplicaID("d1a2b3c4-0002-4000-8000-000000000002")
    static let orders = ReplicaID("d1a2b3c4-0003-4000-8000-000000000003")

    static func memberStatus(_ name: String, health: MemberHealth = .alive) -> MemberStatus {
        let n = Int(name.dropFirst(6))!
        return MemberStatus(server: id(name), name: name, endpoint: Endpoint(addr: "127.0.2.\(n)", port: 7459),
                            apiEndpoint: Endpoint(addr: "127.0.2.\(n)", port: 7460), health: health, incarnation: 1,
                            lastHeardMs: 120)
    }

    struct DB {
        var id: ReplicaID
        var name: String
        var port: Int
        var members: [(String, MemberRole, DataState?)]
        var epochSeq: UInt64
        var epochState: EpochState = .open
        var primary: String?
        var leaseLeftMs: Int64 = 2400
        var lag: [String: (Int64, Double)] = [:]
        var pgState: [String: String] = [:]
    }

    static func healthyDBs() -> [DB] {
        [
            DB(id: mydb1, name: "mydb1", port: 5432,
               members: [("server1", .primary, .inSync), ("server2", .sync, .inSync), ("server3", .async, .catchUp)],
               epochSeq: 5, primary: "server1", lag: ["server2": (0, 0.0), "server3": (131_072, 0.4)]),
            DB(id: mydb2, name: "mydb2", port: 5442,
               members: [("server2", .primary, .inSync), ("server3", .sync, .inSync), ("server4", .sync, .inSync)],
               epochSeq: 3, primary: "server2", leaseLeftMs: 1800, lag: ["server3": (8_192, 0.0), "server4": (0, 0.0)]),
            DB(id: orders, name: "orders", port: 5452, members: [("server4", .primary, .inSync)],
               epochSeq: 1, primary: "server4", leaseLeftMs: 2900),
        ]
    }

    static func replicaStatus(_ db: DB, reporter: String) -> ReplicaStatus {
        let owner = db.primary.map(id) ?? id(db.members[0].0)
        let epochID = EpochID(sequence: db.epochSeq, server: owner)
        let group = db.members.map { id($0.0) }
        let quorum = db.members.filter { $0.1 == .primary || $0.1 == .sync }.map { id($0.0) }
        let epoch = EpochStatus(id: epochID, state: db.epochState, quorumGroup: group, dataQuorum: quorum)
        let prior = db.epochSeq > 1 ? EpochStatus(id: EpochID(sequence: db.epochSeq - 1, server: owner), state: .closed,
                                                  quorumGroup: group, dataQuorum: quorum) : nil
        let lease = db.primary.map {
            LeaseStatus(epoch: epochID, holder: id($0), remainingMs: db.leaseLeftMs, durationMs: 3000,
                        ballot: Ballot(sequence: 40 + db.epochSeq, server: id($0)))
        }
        let members = db.members.map { (name, role, data) -> ReplicaMemberStatus in
            let lag = db.lag[name]
            let state = db.pgState[name] ?? (role == .primary ? "primary" : role == .witness ? "witness" : "standby")
            let pg = role == .witness ? nil : PostgresStatus(
                state: state, port: db.port, lsn: "0/3A0\(db.epochSeq)F2C8",
                replayLSN: role == .primary ? nil : "0/3A0\(db.epochSeq)E100",
                lagBytes: lag?.0, lagSeconds: lag?.1)
            // A member knows its own Postgres; what it says of the others is second-hand.
            return ReplicaMemberStatus(server: id(name), role: role, dataState: data, postgres: name == reporter || reporter == db.primary ? pg : nil)
        }
        return ReplicaStatus(replica: db.id, name: db.name, quorumGroupSize: db.members.count, port: db.port,
                             closedPort: db.port + 1, primary: db.primary.map(id), epoch: epoch, priorEpoch: prior,
                             lease: lease, members: members)
    }

    static func nodeStatus(_ reporter: String, dbs: [DB], health: [String: MemberHealth] = [:], events: [ClusterEvent] = []) -> NodeStatus {
        NodeStatus(server: id(reporter), name: reporter,
                   members: names.map { memberStatus($0, health: health[$0] ?? .alive) },
                   replicas: dbs.filter { $0.members.contains { $0.0 == reporter } }.map { replicaStatus($0, reporter: reporter) },
                   events: events)
    }

    static let baseEvents = [
        ClusterEvent(atUnixMs: t0.wallUnixMs - 60_000, kind: .membership, replica: nil, text: "server4 joined"),
        ClusterEvent(atUnixMs: t0.wallUnixMs - 45_000, kind: .replica, replica: mydb1, text: "mydb1 created with group size 3"),
        ClusterEvent(atUnixMs: t0.wallUnixMs - 30_000, kind: .epoch, replica: mydb1, text: "epoch 5 opened on server1"),
    ]

    /// Feeds a snapshot from every member, then `ticks` seconds of heartbeats (none from `silent`
    /// members) and fresh replica deltas (from `dbsAt` when given); returns the model at `t0 + ticks s`.
    static func model(dbs: [DB] = healthyDBs(), silent: Set<String> = [], health: [String: MemberHealth] = [:],
                      events: [ClusterEvent] = baseEvents, ticks: Int = 1, dbsAt: ((Int) -> [DB])? = nil) -> ConsoleModel {
        run(dbs: dbs, silent: silent, health: health, events: events, ticks: ticks, dbsAt: dbsAt).model
    }

    static func run(dbs: [DB] = healthyDBs(), silent: Set<String> = [], health: [String: MemberHealth] = [:],
                    events: [ClusterEvent] = baseEvents, ticks: Int = 1, dbsAt: ((Int) -> [DB])? = nil) -> FixtureRun {
        var r = FixtureRun()
        for n in names {
            r.step(.feed(endpoint: n, event: .connected))
            r.send(n) { .snapshot(sequence: $0, status: nodeStatus(n, dbs: dbs, health: health, events: events)) }
        }
        for i in 0..<ticks {
            r.now = t0.adding(ms: Int64(i + 1) * 1000)
            for n in names where !silent.contains(n) {
                for db in dbsAt?(i) ?? dbs where db.members.contains(where: { $0.0 == n }) {
                    r.send(n) { .delta(sequence: $0, change: .replica(replicaStatus(db, reporter: n))) }
                }
                let wall = r.now.wallUnixMs
                r.send(n) { .heartbeat(sequence: $0, atUnixMs: wall) }
            }
            r.step(.tick)
        }
        return r
    }
}

/// A console being fed: keeps each member's sequence numbers so scenarios can continue a run.
struct FixtureRun {
    var model = ConsoleModel(endpoints: Fixture.names, now: Fixture.t0)
    var now = Fixture.t0
    var sequences: [String: UInt64] = [:]
    var commands: [ConsoleCommand] = []

    mutating func step(_ message: ConsoleMessage) {
        let (m, c) = ConsoleModel.update(model, message, now: now)
        model = m
        commands += c
    }

    mutating func send(_ member: String, _ make: (UInt64) -> FeedMessage) {
        let next = (sequences[member] ?? 0) + 1
        sequences[member] = next
        step(.feed(endpoint: member, event: .message(make(next))))
    }

    mutating func delta(_ member: String, _ change: FeedDelta) { send(member) { .delta(sequence: $0, change: change) } }
    mutating func key(_ k: ConsoleKey) { step(.key(k)) }
    mutating func advance(ms: Int64) { now = now.adding(ms: ms) }
}
