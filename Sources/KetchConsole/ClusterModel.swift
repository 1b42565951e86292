import KetchShared

/// Every member's feed merged into one view of the cluster. Each member reports only what it
/// sees (its membership table, its own copies of databases), so the console keeps each feed
/// separately in `reporters` and derives `members`, `databases` and `events` from all of them.
public struct ClusterModel: Hashable, Sendable {
    /// A member silent this long is shown as unreachable (the feed heartbeats at least every second).
    public static let silenceLimit = Span.seconds(2)
    public static let eventLimit = 500
    /// Sparkline and lease timeline length, one sample a second.
    public static let historyLength = 60

    public let endpoints: [String]
    public private(set) var reporters: [String: ReporterFeed]
    public private(set) var members: [MemberView] = []
    /// Sorted by name.
    public private(set) var databases: [DatabaseView] = []
    /// Oldest first.
    public private(set) var events: [EventEntry] = []
    /// Standby lag in bytes, one sample a second, oldest first.
    public private(set) var lagHistory: [ReplicaID: [ServerID: [Int64]]] = [:]
    /// Lease holder name (nil: no holder) one sample a second, oldest first.
    public private(set) var leaseHistory: [ReplicaID: [String?]] = [:]
    public private(set) var now: ConsoleTime
    private var lastSample: Instant?

    public init(endpoints: [String], now: ConsoleTime) {
        self.endpoints = endpoints
        self.now = now
        reporters = Dictionary(uniqueKeysWithValues: endpoints.map { ($0, ReporterFeed(endpoint: $0, now: now.monotonic)) })
        remergeAll()
    }

    /// What the transport must do for the model.
    public enum Action: Hashable, Sendable {
        /// A gap in the sequence did not fill: drop the subscription and take a fresh snapshot.
        case resubscribe(endpoint: String)
    }

    public mutating func receive(_ event: FeedEvent, from endpoint: String, at time: ConsoleTime) -> [Action] {
        now = time
        guard var feed = reporters[endpoint] else { return [] }
        let wasLive = feed.isLive
        var actions: [Action] = []
        switch event {
        case .connected:
            feed.lastError = nil
            reporters[endpoint] = feed
        case .disconnected(let reason):
            feed.disconnected(reason: reason, at: time.monotonic)
            reporters[endpoint] = feed
            if wasLive {
                // The silence check will call it unreachable; say why now.
                record(EventEntry(atUnixMs: time.wallUnixMs, kind: .membership, replica: nil,
                                  text: "feed from \(endpoint) lost: \(reason)", source: "console"))
            }
        case .message(let message):
            let wasUnreachable: Bool
            if case .unreachable = feed.link { wasUnreachable = true } else { wasUnreachable = false }
            let effect = feed.receive(message, at: time.monotonic)
            reporters[endpoint] = feed
            if effect.resubscribe { actions.append(.resubscribe(endpoint: endpoint)) }
            if wasUnreachable {
                record(EventEntry(atUnixMs: time.wallUnixMs, kind: .membership, replica: nil,
                                  text: "\(endpoint) reachable again", source: "console"))
            }
            let source = feed.status?.name ?? endpoint
            for e in effect.events {
                record(EventEntry(atUnixMs: e.atUnixMs, kind: e.kind, replica: e.replica, text: e.text, source: source))
            }
            if effect.replaced || wasUnreachable {
                remergeAll()
            } else {
                for id in effect.replicas.sorted() { remergeDatabase(id) }
                if effect.membersChanged { remergeMembers() }
            }
        }
        if !feed.isLive && wasLive { remergeAll() }
        return actions
    }

    /// Advances time: marks silent members unreachable, asks for snapshots where a gap did not
    /// fill, and samples lag and lease holders once a second.
    public mutating func tick(at time: ConsoleTime) -> [Action] {
        now = time
        var actions: [Action] = []
        var changed = false
        for endpoint in endpoints {
            guard var feed = reporters[endpoint] else { continue }
            if feed.checkGap(at: time.monotonic) { actions.append(.resubscribe(endpoint: endpoint)) }
            if feed.checkSilence(at: time.monotonic, limit: Self.silenceLimit) {
                changed = true
                var heard = feed.lastHeard == nil ? "never reached" : "silent for \(Self.silenceLimit.milliseconds / 1000)s"
                if let why = feed.lastError { heard += ": " + why }
                record(EventEntry(atUnixMs: time.wallUnixMs, kind: .membership, replica: nil,
                                  text: "\(endpoint) unreachable (\(heard))", source: "console"))
            }
            reporters[endpoint] = feed
        }
        if changed { remergeAll() } else { remergeMembers() }
        if lastSample.map({ time.monotonic - $0 >= .seconds(1) }) ?? true {
            lastSample = time.monotonic
            sampleHistory()
        }
        return actions
    }

    /// Adds a line of the console's own to the event pane (command results and the like).
    public mutating func note(_ text: String, kind: ClusterEventKind, replica: ReplicaID? = nil, at time: ConsoleTime) {
        now = time
        record(EventEntry(atUnixMs: time.wallUnixMs, kind: kind, replica: replica, text: text, source: "console"))
    }

    /// Moves the clock without any other change (keys and replies carry time too).
    mutating func advance(to time: ConsoleTime) { now = time }

    public func database(_ id: ReplicaID) -> DatabaseView? { databases.first { $0.replica == id } }
    public func database(named name: String) -> DatabaseView? { databases.first { $0.name == name } }

    /// A server's name for display: from any membership table, else its short ID.
    public func name(of server: ServerID) -> String {
        if let m = members.first(where: { $0.server == server }) { return m.name }
        return server.short
    }

    // MARK: events

    private mutating func record(_ entry: EventEntry) {
        // The same happening reported by several members, or again in a fresh snapshot, shows once.
        // Times come from the wire: an absurd one must not overflow the arithmetic.
        let windowStart = entry.atUnixMs.subtractingReportingOverflow(2000)
        var i = events.count - 1
        while i >= 0 && (windowStart.overflow || events[i].atUnixMs >= windowStart.partialValue) {
            let e = events[i]
            let apart = e.atUnixMs.subtractingReportingOverflow(entry.atUnixMs)
            if e.kind == entry.kind && e.replica == entry.replica && e.text == entry.text && !apart.overflow && apart.partialValue.magnitude <= 2000 {
                return
            }
            i -= 1
        }
        var at = events.count
        while at > 0 && events[at - 1].atUnixMs > entry.atUnixMs { at -= 1 }
        events.insert(entry, at: at)
        if events.count > Self.eventLimit { events.removeFirst(events.count - Self.eventLimit) }
    }

    // MARK: merging

    private struct Report {
        var endpoint: String
        var reporter: ServerID
        var live: Bool
        var status: ReplicaStatus
        var receivedAt: Instant?
    }

    private func reports(for id: ReplicaID) -> [Report] {
        var out: [Report] = []
        for endpoint in endpoints {
            guard let feed = reporters[endpoint], let status = feed.status,
                  let r = status.replicas.first(where: { $0.replica == id }) else { continue }
            out.append(Report(endpoint: endpoint, reporter: status.server, live: feed.isLive, status: r,
                              receivedAt: feed.replicaReceivedAt[id]))
        }
        return out
    }

    private var serverNames: [ServerID: String] {
        var names: [ServerID: String] = [:]
        for endpoint in endpoints {
            guard let status = reporters[endpoint]?.status else { continue }
            names[status.server] = status.name
            for m in status.members where names[m.server] == nil { names[m.server] = m.name }
        }
        return names
    }

    private var liveServers: Set<ServerID> {
        Set(endpoints.compactMap { e in reporters[e].flatMap { $0.isLive ? $0.status?.server : nil } })
    }

    private mutating func remergeAll() {
        var ids = Set<ReplicaID>()
        for feed in reporters.values { for r in feed.status?.replicas ?? [] { ids.insert(r.replica) } }
        let names = serverNames, live = liveServers
        databases = ids.compactMap { merge($0, names: names, live: live) }.sorted { ($0.name, $0.replica) < ($1.name, $1.replica) }
        remergeMembers()
    }

    private mutating func remergeDatabase(_ id: ReplicaID) {
        let merged = merge(id, names: serverNames, live: liveServers)
        if let i = databases.firstIndex(where: { $0.replica == id }) {
            if let merged { databases[i] = merged } else { databases.remove(at: i) }
        } else if let merged {
            let at = databases.firstIndex { ($0.name, $0.replica) > (merged.name, merged.replica) } ?? databases.count
            databases.insert(merged, at: at)
        }
    }

    private static func epochKey(_ e: EpochStatus?) -> (UInt64, String, Int) {
        guard let e else { return (0, "", -1) }
        return (e.id.sequence, e.id.server.rawValue, e.state == .new ? 0 : e.state == .open ? 1 : 2)
    }

    private func merge(_ id: ReplicaID, names: [ServerID: String], live: Set<ServerID>) -> DatabaseView? {
        let all = reports(for: id)
        guard !all.isEmpty else { return nil }
        let fresh = all.filter(\.live)
        let candidates = fresh.isEmpty ? all : fresh
        // The newest epoch wins; among equals, the primary's own report knows the lease best.
        let base = candidates.max { a, b in
            let ka = Self.epochKey(a.status.epoch), kb = Self.epochKey(b.status.epoch)
            if ka != kb { return ka < kb }
            let pa = a.status.primary == a.reporter, pb = b.status.primary == b.reporter
            if pa != pb { return !pa }
            return a.endpoint > b.endpoint
        }!
        let s = base.status
        var lease = s.lease, leaseAt = base.receivedAt
        if let holder = s.lease?.holder, let own = candidates.first(where: { $0.reporter == holder }), let l = own.status.lease,
           l.epoch == s.lease?.epoch {
            lease = l; leaseAt = own.receivedAt
        }
        // Primary first, then sync, async, witness, spare: the order the group is read in.
        let order = Dictionary(uniqueKeysWithValues: MemberRole.allCases.enumerated().map { ($1, $0) })
        let sortedMembers = s.members.enumerated().sorted { a, b in
            (order[a.element.role] ?? 9, a.offset) < (order[b.element.role] ?? 9, b.offset)
        }.map(\.element)
        let members = sortedMembers.map { m -> DatabaseMemberView in
            let own = candidates.first { $0.reporter == m.server }?.status.members.first { $0.server == m.server }
            return DatabaseMemberView(server: m.server, name: names[m.server] ?? m.server.short, role: m.role,
                                      dataState: m.dataState, postgres: own?.postgres ?? m.postgres,
                                      selfReported: own?.postgres != nil, reachable: live.contains(m.server))
        }
        // A reporter whose copy is on a dead branch says so (`stale`): its last knowledge is not
        // an opinion about the replica, and it asks the others until it knows better.
        let disagreeing = fresh.filter { $0.status.stale != true && ($0.status.primary != s.primary || $0.status.epoch?.id != s.epoch?.id) }
            .map { names[$0.reporter] ?? $0.endpoint }.sorted()
        return DatabaseView(replica: s.replica, name: s.name, quorumGroupSize: s.quorumGroupSize, port: s.port,
                            closedPort: s.closedPort, primary: s.primary, epoch: s.epoch, priorEpoch: s.priorEpoch,
                            lease: lease, leaseReceivedAt: leaseAt, members: members, disagreeing: disagreeing,
                            stale: fresh.isEmpty)
    }

    private mutating func remergeMembers() {
        struct Facts { var status: MemberStatus?; var votes: [MemberHealth] = [] }
        var facts: [ServerID: Facts] = [:]
        var selfReport: [ServerID: MemberStatus] = [:]
        var endpointOf: [ServerID: String] = [:]
        for endpoint in endpoints {
            guard let feed = reporters[endpoint], let status = feed.status else { continue }
            endpointOf[status.server] = endpoint
            for m in status.members {
                var f = facts[m.server] ?? Facts()
                if f.status == nil { f.status = m }
                if m.server == status.server { selfReport[m.server] = m }
                if feed.isLive { f.votes.append(m.health) }
                facts[m.server] = f
            }
            if facts[status.server] == nil { facts[status.server] = Facts() }
        }
        var holdings: [ServerID: [MemberView.Holding]] = [:]
        for db in databases {
            for m in db.members { holdings[m.server, default: []].append(.init(database: db.name, role: m.role, dataState: m.dataState)) }
        }
        var rows: [MemberView] = []
        var claimed = Set<String>()
        for (server, f) in facts {
            let st = selfReport[server] ?? f.status
            let name = st?.name ?? reporters[endpointOf[server] ?? ""]?.status?.name ?? server.short
            // A member we follow but learned of only through others is matched by name or address.
            let endpoint = endpointOf[server] ?? endpoints.first { $0 == name || $0 == st?.apiEndpoint.addr || $0 == st?.endpoint.addr }
            if let endpoint { claimed.insert(endpoint) }
            let feed = endpoint.flatMap { reporters[$0] }
            var counts: [MemberHealth: Int] = [:]
            for v in f.votes { counts[v, default: 0] += 1 }
            let verdict = counts.max { a, b in a.value != b.value ? a.value < b.value : a.key < b.key }
            rows.append(MemberView(server: server, name: name, address: st?.endpoint.addr ?? endpoint ?? "",
                                   health: verdict?.key, votes: f.votes.count, agreeing: verdict?.value ?? 0,
                                   link: feed?.link, lastHeard: feed?.lastHeard, holdings: holdings[server] ?? []))
        }
        for endpoint in endpoints where !claimed.contains(endpoint) {
            let feed = reporters[endpoint]
            rows.append(MemberView(server: nil, name: endpoint, address: endpoint, health: nil, votes: 0, agreeing: 0,
                                   link: feed?.link, lastHeard: feed?.lastHeard, holdings: []))
        }
        members = rows.sorted { ($0.name, $0.address) < ($1.name, $1.address) }
    }

    private mutating func sampleHistory() {
        for db in databases {
            var lag = lagHistory[db.replica] ?? [:]
            for m in db.members where m.role != .primary && m.role != .witness {
                var series = lag[m.server] ?? []
                series.append(m.postgres?.lagBytes ?? 0)
                if series.count > Self.historyLength { series.removeFirst(series.count - Self.historyLength) }
                lag[m.server] = series
            }
            lagHistory[db.replica] = lag
            var holders = leaseHistory[db.replica] ?? []
            let holder = db.leaseRemainingMs(at: now.monotonic).flatMap { $0 > 0 ? db.lease?.holder : nil }
            holders.append(holder.map { name(of: $0) })
            if holders.count > Self.historyLength { holders.removeFirst(holders.count - Self.historyLength) }
            leaseHistory[db.replica] = holders
        }
    }
}
