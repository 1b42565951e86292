import Foundation
import KetchCore
import KetchPostgres
import KetchShared
import KetchStore
import KetchWire
import Logging

/// The driver: one actor owns the protocol state machines, turns socket and timer happenings
/// into their events, and carries out each output in order (persist before send).
public actor Node {
    let config: NodeConfig
    let identity: RuntimeIdentity
    let bootID: String
    let startedAtUnixMs: Int64
    var logger: Logger
    let store: KetchStore
    var membership: Membership
    var core: KetchCore
    var databases: [ReplicaID: ReplicaDatabase] = [:]
    /// The latest Postgres state each local copy reported (or its failure).
    var dbStatus: [ReplicaID: PostgresStatus] = [:]
    let secret: ClusterSecret
    let tools: PostgresTools
    let transport: PeerTransport
    private let api: APIServer
    let feed: FeedPublisher
    /// Where each step's records are made durable before its outputs leave (see `Outbox`).
    let outbox: Outbox
    /// The HTTP status port (see `Node+HTTP.swift`).
    let http: HTTPStatusServer
    /// What `/metrics` counts.
    var counters = NodeCounters()
    private var events: [ClusterEvent] = []
    private var lastPublished = Instant.zero
    /// When the last tick ran, to notice when this actor was not run for a while (see `tick`).
    private var lastTick: Instant?
    /// How late a tick may run before the node says so: the failure detector's probe timeout
    /// is 100 ms, so a node not run for longer looks suspect to its peers.
    static let lateTickWarning = Span.milliseconds(250)
    private var tasks: [Task<Void, Never>] = []
    /// Set when the protocol state could not be persisted (a full disk): the node then takes no
    /// further step — its in-memory core would be ahead of what a restart restores, and a later
    /// step that persists only its own records could send messages that rest on the lost ones —
    /// and stops as on SIGTERM (copies closed and stopped, the watchdog still guarding); NodeMain
    /// then waits for free space and starts a new node from what is on disk (findings 8 and 15).
    private(set) var fatalError: NodeError?
    nonisolated let stopRequest = StopLatch()
    static let maxEvents = 200
    static let tickPeriodNanoseconds: UInt64 = 20_000_000
    static let publishPeriod = Span.milliseconds(500)

    private init(config: NodeConfig, identity: RuntimeIdentity, incarnation: UInt64, store: KetchStore, secret: ClusterSecret,
                 core: KetchCore, transport: PeerTransport, api: APIServer, feed: FeedPublisher, logger: Logger) {
        self.secret = secret
        self.core = core
        self.tools = PostgresTools(binDirectory: config.dbBinDirectory, osUser: config.dbUser)
        self.config = config
        self.identity = identity
        self.bootID = MonotonicClock.bootID()
        self.startedAtUnixMs = MonotonicClock.unixMilliseconds()
        self.store = store
        self.transport = transport
        self.api = api
        self.feed = feed
        var logger = logger
        logger[metadataKey: "server"] = .string(config.name)
        self.logger = logger
        let me = MemberUpdate(server: identity.serverID, name: config.name, endpoint: config.memberEndpoint,
                              apiEndpoint: config.apiEndpoint, incarnation: incarnation, health: .alive)
        let seed = UInt64(truncatingIfNeeded: MonotonicClock.now().nanoseconds) ^ UInt64(truncatingIfNeeded: identity.serverID.rawValue.hashValue)
        self.membership = Membership(me: me, seeds: config.members, config: config.membership, seed: seed)
        self.outbox = Outbox(store: store)
        self.http = HTTPStatusServer(logger: logger)
        let outboxLogger = logger
        outbox.handle(failed: { [weak self] error in
            Task { await self?.stopForPersistFailure(error) }
        }, slow: { took in
            outboxLogger.warning("an fsync of \(config.dataDirectory)/ketch.db took \(took.milliseconds) ms: the disk is slow, and every message that waits for durable records waited as long")
        })
    }

    /// Loads or creates the runtime identity, binds both ports and starts the loops.
    public static func start(config: NodeConfig, secret: ClusterSecret, store: KetchStore, logger: Logger) async throws -> Node {
        let identity = try loadIdentity(config: config, store: store, logger: logger)
        let incarnation = try store.nextSequence(name: "incarnation")
        let core = try restoreCore(config: config, identity: identity, store: store)
        let transport = PeerTransport(secret: secret, logger: logger)
        do { _ = try await transport.start(host: config.memberEndpoint.addr, port: config.memberEndpoint.port) } catch {
            throw NodeError("listen", "cannot listen for peers on \(config.memberEndpoint): \(error); is another ketch-node using that address?")
        }
        let feed = FeedPublisher()
        let api = APIServer(secret: secret, logger: logger)
        let node = Node(config: config, identity: identity, incarnation: incarnation, store: store, secret: secret,
                        core: core, transport: transport, api: api, feed: feed, logger: logger)
        do { _ = try await api.start(host: config.apiEndpoint.addr, port: config.apiEndpoint.port, handler: NodeAPIHandler(node: node)) } catch {
            await transport.shutdown()
            throw NodeError("listen", "cannot listen for clients on \(config.apiEndpoint): \(error); is another ketch-node using that address?")
        }
        if let httpPort = config.httpPort {
            do { _ = try await node.http.start(host: config.apiEndpoint.addr, port: httpPort, handler: NodeHTTPHandler(node: node)) } catch {
                await api.shutdown()
                await transport.shutdown()
                throw NodeError("listen", "cannot listen for HTTP status on \(config.apiEndpoint.addr):\(httpPort): \(error); is another ketch-node using that port? (--http-port, 0 turns it off)")
            }
        }
        await node.begin()
        return node
    }

    private static func loadIdentity(config: NodeConfig, store: KetchStore, logger: Logger) throws -> RuntimeIdentity {
        if var existing = try store.runtime() {
            if existing.name != config.name || existing.memberEndpoint != config.memberEndpoint || existing.apiEndpoint != config.apiEndpoint {
                logger.notice("runtime identity kept, name or endpoints updated", metadata: [
                    "server.id": .string(existing.serverID.rawValue), "was": .string("\(existing.name) \(existing.memberEndpoint)")])
                existing.name = config.name
                existing.memberEndpoint = config.memberEndpoint
                existing.apiEndpoint = config.apiEndpoint
                try store.saveRuntime(existing)
            }
            return existing
        }
        let identity = RuntimeIdentity(serverID: ServerID(UUID().uuidString.lowercased()), name: config.name,
                                       memberEndpoint: config.memberEndpoint, apiEndpoint: config.apiEndpoint,
                                       createdAtUnixMs: MonotonicClock.unixMilliseconds())
        try store.saveRuntime(identity)
        logger.notice("new runtime identity", metadata: ["server.id": .string(identity.serverID.rawValue)])
        return identity
    }

    private func begin() {
        logger[metadataKey: "server.id"] = .string(identity.serverID.short)
        logger.notice("started", metadata: ["member": .string("\(config.memberEndpoint)"), "api": .string("\(config.apiEndpoint)"),
                                            "members": .string(config.members.map(\.description).joined(separator: ","))])
        let inbound = transport.envelopes
        tasks.append(Task { [weak self] in
            for await envelope in inbound {
                guard let self else { return }
                await self.received(envelope)
            }
        })
        tasks.append(Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                await self.tick()
                try? await Task.sleep(nanoseconds: Node.tickPeriodNanoseconds)
            }
        })
        resumeDatabases()
        publish(now: MonotonicClock.now())
    }

    /// See `fatalError`. NodeMain waits on `stopRequest` as on SIGTERM and runs the same shutdown.
    func stopForPersistFailure(_ error: Error) {
        guard fatalError == nil else { return }
        fatalError = NodeError("cannot-persist", "cannot persist protocol state to \(config.dataDirectory)/ketch.db (\(error)); this server closed and stopped its copies rather than run on state a restart would forget, and starts again by itself once that filesystem has free space: free space there")
        logger.critical("cannot persist protocol state, stopping this node: \(error)")
        stopRequest.fire("a protocol state persist failure")
    }

    public func shutdown() async {
        for t in tasks { t.cancel() }
        outbox.close()
        for db in databases.values { await db.shutdown() }
        await http.shutdown()
        await api.shutdown()
        await transport.shutdown()
        logger.notice("stopped")
    }

    // MARK: Events

    func tick() {
        let now = MonotonicClock.now()
        if let last = lastTick, now - last > Self.lateTickWarning {
            logger.warning("node was not run for \((now - last).milliseconds) ms (tick every \(Self.tickPeriodNanoseconds / 1_000_000) ms): peers may suspect it, its leases may run out; a CPU or disk this busy delays failover")
        }
        lastTick = now
        carryOut(membership.tick(now: now), now: now)
        step(.tick(now: now))
        if now - lastPublished >= Self.publishPeriod { publish(now: now) }
    }

    func received(_ envelope: PeerEnvelope) {
        let now = MonotonicClock.now()
        switch envelope.message {
        case .membership(let m):
            carryOut(membership.received(m, now: now), now: now)
        case .ketch(let m):
            step(.received(from: envelope.from, m, now: now))
        }
    }

    private func carryOut(_ out: MembershipOutput, now: Instant) {
        for change in out.changes {
            if change.to == .suspect { counters.suspicions += 1 }
            if change.to == .dead { counters.deaths += 1 }
            let level: Logger.Level = change.to == .alive ? .notice : .warning
            logger.log(level: level, "\(change)", metadata: ["peer": .string(change.name), "peer.id": .string(change.server.short)])
            record(ClusterEvent(atUnixMs: MonotonicClock.unixMilliseconds(), kind: .membership, replica: nil,
                                text: "\(config.name): \(change.name) is \(change.to.rawValue)"))
        }
        for send in out.sends {
            transport.send(PeerEnvelope(from: identity.serverID, message: .membership(send.message)), to: send.to)
        }
        if !out.changes.isEmpty {
            step(.membership(membershipView, now: now))
            publish(now: now)
        }
    }

    func record(_ event: ClusterEvent) {
        events.append(event)
        if events.count > Self.maxEvents { events.removeFirst(events.count - Self.maxEvents) }
    }

    func publish(now: Instant) {
        lastPublished = now
        let status = self.status(now: now)
        let feed = self.feed
        Task { await feed.publish(status) }
    }

    // MARK: Queries

    /// Servers as the core must see them: healthy until SWIM declares them dead. A suspect
    /// member is one whose probe went unanswered in one period; on a loaded node that is most
    /// often a late ack, refuted within the suspicion timeout (issue 22: with eight databases
    /// failing over on two cores each node logged 70-600 alive→suspect transitions, and every
    /// one the core saw started or threatened an epoch change). A dead primary's failover is
    /// not slower for it: its lease outlives the suspicion timeout, and Step 3 waits for that.
    var membershipView: [ServerID: Bool] {
        var view: [ServerID: Bool] = [identity.serverID: true]
        for m in membership.others { view[m.record.server] = m.record.health != .dead }
        return view
    }

    /// A server's address, for Postgres connections between copies.
    func address(of server: ServerID) -> String? {
        server == identity.serverID ? config.memberEndpoint.addr : membership.members[server]?.record.endpoint.addr
    }

    func name(of server: ServerID) -> String {
        server == identity.serverID ? config.name : membership.members[server]?.record.name ?? server.short
    }

    func status(now: Instant) -> NodeStatus {
        var members = [MemberStatus(server: identity.serverID, name: config.name, endpoint: config.memberEndpoint,
                                    apiEndpoint: config.apiEndpoint, health: .alive, incarnation: membership.me.incarnation, lastHeardMs: nil)]
        for m in membership.others {
            // Coarse on purpose: a healthy member reads 0 and its record stays unchanged, so the
            // feed carries no delta for it until something real changes.
            let heard = m.lastHeard.map { ms -> Int64 in
                let age = max(0, (now - ms).milliseconds)
                return age < 1000 ? 0 : age / 1000 * 1000
            }
            members.append(MemberStatus(server: m.record.server, name: m.record.name, endpoint: m.record.endpoint,
                                        apiEndpoint: m.record.apiEndpoint, health: m.record.health,
                                        incarnation: m.record.incarnation, lastHeardMs: heard))
        }
        return NodeStatus(server: identity.serverID, name: config.name, members: members, replicas: replicaStatus(now: now), events: events)
    }

    func resources(_ kind: ResourceKind, id: String?) -> ControlReply {
        let now = MonotonicClock.now()
        var list: [Resource]
        switch kind {
        case .runtime:
            list = [Resource(attributes: .object([
                ("apiEndpoint", endpointJSON(config.apiEndpoint)),
                ("bootId", .string(bootID)),
                ("dataDir", .string(config.dataDirectory)),
                ("dbBinDir", .string(config.dbBinDirectory)),
                ("dbUser", .string(config.dbUser)),
                ("endpoint", endpointJSON(config.memberEndpoint)),
                ("id", .string(identity.serverID.rawValue)),
                ("incarnation", .int(Int64(membership.me.incarnation))),
                ("name", .string(config.name)),
                ("startedAtUnixMs", .int(startedAtUnixMs)),
            ]), id: identity.serverID.rawValue, type: .runtime)]
        case .server:
            list = status(now: now).members.map { m in
                var attrs: [(String, JSONValue)] = [
                    ("apiEndpoint", endpointJSON(m.apiEndpoint)),
                    ("endpoint", endpointJSON(m.endpoint)),
                    ("health", .string(m.health.rawValue)),
                    ("id", .string(m.server.rawValue)),
                    ("incarnation", .int(Int64(m.incarnation))),
                ]
                if let heard = m.lastHeardMs { attrs.append(("lastHeardMs", .int(heard))) }
                attrs.append(("name", .string(m.name)))
                return Resource(attributes: .object(attrs), id: m.server.rawValue, type: .server)
            }
        case .epoch, .replica, .dbmgr:
            list = replicaResources(kind, now: now)
        }
        if let id {
            list = list.filter { $0.id == id || $0.attributes["name"] == .string(id) }
            if list.isEmpty { return .error(ErrorReply(code: "not-found", message: "no \(kind.rawValue) '\(id)' on \(config.name); list them with 'ketchctl get \(kind.rawValue)'")) }
        }
        return .resources(ResourceList(data: list))
    }

    private func endpointJSON(_ e: Endpoint) -> JSONValue { .object([("addr", .string(e.addr)), ("port", .int(Int64(e.port)))]) }
}

/// The api port's view of the node.
struct NodeAPIHandler: APIHandler {
    let node: Node

    func handle(_ request: ControlRequest, progress: @escaping @Sendable (String) async -> Void) async -> ControlReply {
        switch request {
        case let .get(kind, id):
            return await node.resources(kind, id: id)
        case .subscribe:
            return .error(ErrorReply(code: "bad-request", message: "subscribe is answered with the feed, not a reply"))
        case .createReplica(let spec):
            return await node.create(spec)
        case .deleteReplica(let name):
            return await node.delete(name)
        case let .failover(name, to):
            return await node.failover(name, to: to, progress: progress)
        case .conninfo(let name):
            return await node.conninfo(name)
        }
    }

    func subscribe() async -> AsyncStream<FeedMessage> {
        await node.feed.subscribe()
    }
}
