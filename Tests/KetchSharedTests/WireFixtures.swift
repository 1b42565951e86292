import Foundation
import KetchShared

/// One example of every wire message, with payloads that touch every nested type.
enum WireFixtures {
    static let server1 = ServerID("6fbacbae-2954-4472-9795-e59945f4d4b5")
    static let server2 = ServerID("23becdbc-20db-4ddd-892c-31a77a0a1714")
    static let replica = ReplicaID("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
    static let epoch = EpochID(sequence: 3, server: server1)

    static let update = MemberUpdate(server: server1, name: "server1", endpoint: Endpoint(addr: "127.0.2.1", port: 7459),
                                     apiEndpoint: Endpoint(addr: "127.0.2.1", port: 7460), incarnation: 4, health: .alive)

    static let member = MemberStatus(server: server2, name: "server2", endpoint: Endpoint(addr: "127.0.2.2", port: 7459),
                                     apiEndpoint: Endpoint(addr: "127.0.2.2", port: 7460), health: .suspect, incarnation: 2, lastHeardMs: 350)

    static let replicaStatus = ReplicaStatus(
        replica: replica, name: "mydb1", quorumGroupSize: 3, port: 5432, closedPort: 5433, primary: server1,
        epoch: EpochStatus(id: epoch, state: .open, quorumGroup: [server1, server2], dataQuorum: [server1, server2]),
        priorEpoch: EpochStatus(id: EpochID(sequence: 2, server: server2), state: .closed, quorumGroup: [server2], dataQuorum: [server2], successor: epoch),
        lease: LeaseStatus(epoch: epoch, holder: server1, remainingMs: 2100, durationMs: 3000, ballot: Ballot(sequence: 9, server: server1)),
        members: [
            ReplicaMemberStatus(server: server1, role: .primary, dataState: .inSync,
                                postgres: PostgresStatus(state: "primary", port: 5432, lsn: "0/3000060")),
            ReplicaMemberStatus(server: server2, role: .sync, dataState: .catchUp,
                                postgres: PostgresStatus(state: "standby", port: 5432, replayLSN: "0/3000000", lagBytes: 96, lagSeconds: 0.25)),
        ])

    static let event = ClusterEvent(atUnixMs: 1_764_244_800_000, kind: .failover, replica: replica, text: "server2 promoted for mydb1")

    static let status = NodeStatus(server: server1, name: "server1", members: [member], replicas: [replicaStatus], events: [event])

    static let spec = ReplicaSpec(name: "mydb1", quorumGroupSize: 3,
                                  dbConfig: .init(username: "myuser", password: "mypassword", port: 5432, closedPort: 5433))

    static let requests: [ControlRequest] = [
        .get(kind: .runtime, id: nil),
        .get(kind: .server, id: nil),
        .get(kind: .epoch, id: nil),
        .get(kind: .replica, id: "mydb1"),
        .get(kind: .dbmgr, id: nil),
        .subscribe,
        .createReplica(spec: spec),
        .deleteReplica(name: "mydb1"),
        .failover(name: "mydb1", to: "server2"),
        .failover(name: "mydb1", to: nil),
        .conninfo(name: "mydb1"),
    ]

    static let replies: [ControlReply] = [
        .resources(ResourceList(data: [Resource(attributes: .object([
            ("endpoint", .object([("addr", .string("127.0.2.1")), ("port", .int(7459))])),
            ("id", .string(server1.rawValue)), ("name", .string("server1")),
        ]), id: server1.rawValue, type: .server)])),
        .ok(message: "replica mydb1 created"),
        .conninfo("host=server1,server2 port=5432,5432 dbname=mydb1 target_session_attrs=read-write"),
        .progress(message: "closing epoch 3@6fbacbae"),
        .error(ErrorReply(code: "not-found", message: "no replica named mydb2")),
    ]

    static let feeds: [FeedMessage] = [
        .snapshot(sequence: 0, status: status),
        .delta(sequence: 1, change: .member(member)),
        .delta(sequence: 2, change: .memberRemoved(server2)),
        .delta(sequence: 3, change: .replica(replicaStatus)),
        .delta(sequence: 4, change: .replicaRemoved(replica)),
        .delta(sequence: 5, change: .event(event)),
        .heartbeat(sequence: 6, atUnixMs: 1_764_244_801_000),
    ]

    static let envelopes: [PeerEnvelope] = [
        PeerEnvelope(from: server1, message: .membership(.ping(sequence: 1, updates: [update]))),
        PeerEnvelope(from: server2, message: .membership(.ack(sequence: 1, updates: []))),
        PeerEnvelope(from: server1, message: .membership(.pingRequest(sequence: 2, target: server2, updates: [update]))),
        PeerEnvelope(from: server2, message: .membership(.indirectAck(sequence: 2, target: server2, updates: []))),
    ] + ketchEnvelopes

    /// One envelope per Ketch protocol message kind.
    static let ketchEnvelopes: [PeerEnvelope] = {
        let s1 = server1, s2 = server2, r = replica, e = epoch
        let next = EpochID(sequence: 4, server: server2)
        let ballot = Ballot(sequence: 9, server: server1)
        let request = EpochRequest(replica: r, source: s1, epoch: e)
        let reply = EpochReply(replica: r, source: s2, epoch: e)
        let messages: [KetchMessage] = [
            .leasePrepare(LeasePrepare(replica: r, source: s1, epoch: e, ballot: ballot, successor: nil)),
            .leasePrepareReply(LeasePrepareReply(replica: r, source: s2, epoch: e, ballot: ballot, highestPromised: ballot,
                                                 acceptedOwner: s1, acceptedRemaining: .milliseconds(2100))),
            .leasePropose(LeasePropose(replica: r, source: s1, epoch: e, ballot: ballot, owner: s1, timeout: .seconds(3), successor: nil)),
            .leaseProposeReply(LeaseProposeReply(replica: r, source: s2, epoch: e, ballot: ballot, epochState: .open)),
            .leaseRelease(LeaseRelease(replica: r, source: s1, epoch: e, ballot: ballot)),
            .leaseReleaseReply(reply),
            .epochSetup(EpochSetup(replica: r, source: s1, epoch: next, prior: e)),
            .epochSetupReply(EpochReply(replica: r, source: s2, epoch: next)),
            .epochOpen(request),
            .epochOpenReply(reply),
            .epochClose(request),
            .epochCloseReply(EpochReply(replica: r, source: s2, epoch: e, refusal: .unknownEpoch)),
            .epochRevoke(EpochRevoke(replica: r, source: s1, epoch: e, successor: next)),
            .epochRevokeReply(EpochRevokeReply(replica: r, source: s2, epoch: e, successor: next)),
            .replicaCreate(ReplicaCreate(replica: r, source: s1, epoch: e, quorumGroup: [s1, s2], dataQuorum: [s1, s2],
                                         asyncMembers: [], priorEpoch: nil, priorQuorumGroup: [], spec: spec)),
            .replicaCreateReply(reply),
            .replicaUpdateInSync(request),
            .replicaUpdateInSyncReply(reply),
            .replicaDelete(request),
            .switchover(request),
            .replicaQuery(EpochRequest(replica: r, source: s2, epoch: e)),
            .replicaQueryReply(ReplicaCurrent(replica: r, source: s1, epoch: next, primary: s2, quorumGroup: [s1, s2], dataQuorum: [s1, s2],
                                              asyncMembers: [], open: true)),
        ]
        return messages.map { PeerEnvelope(from: $0.source, message: .ketch($0)) }
    }()

    static let nonce = String(repeating: "0f", count: 32)
    static let mac = String(repeating: "a5", count: 32)

    static let handshake: [WireMessage] = [
        .hello(Hello(nonce: nonce)),
        .authenticate(Authenticate(nonce: nonce, role: .client, mac: mac)),
        .authenticate(Authenticate(nonce: nonce, role: .peer, mac: mac)),
        .welcome(Welcome(mac: mac)),
        .error(WireError(.authFailed, "the cluster secret does not match")),
        .error(WireError(.badMessage, "bad 'request' line: missing field request", requestID: 7)),
    ]

    static var apiMessages: [WireMessage] {
        handshake
            + requests.enumerated().map { .request(id: UInt64($0.offset + 1), $0.element) }
            + replies.enumerated().map { .reply(id: UInt64($0.offset + 1), $0.element) }
            + feeds.map { .feed($0) }
    }

    static var memberMessages: [WireMessage] {
        handshake + envelopes.map { .envelope($0) }
    }
}
