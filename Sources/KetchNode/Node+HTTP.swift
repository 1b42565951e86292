import Foundation
import KetchCore
import KetchShared
import KetchWire

/// What `/metrics` counts since this node started (Prometheus counters: they start at 0 with
/// the process, and `rate()` copes with that).
struct NodeCounters {
    var suspicions = 0
    var deaths = 0
    /// Per replica: epochs this server started (Step 1-2), times it began serving as primary,
    /// and fences (lease given up or lost while serving).
    var epochsStarted: [ReplicaID: Int] = [:]
    var servingStarts: [ReplicaID: Int] = [:]
    var fences: [ReplicaID: Int] = [:]

    /// Counts the core's notes that mark these events.
    mutating func count(_ note: String, replica: ReplicaID) {
        if note.hasPrefix("Step 1-2: new epoch") { epochsStarted[replica, default: 0] += 1 }
        if note == "serving as primary" { servingStarts[replica, default: 0] += 1 }
        if note.hasPrefix("fenced") || note.hasPrefix("switchover: fenced") { fences[replica, default: 0] += 1 }
    }
}

/// The HTTP status port's view of the node.
struct NodeHTTPHandler: HTTPStatusHandler {
    let node: Node
    func answer(path: String, query: [String: String]) async -> HTTPAnswer {
        await node.httpAnswer(path: path, query: query)
    }
}

/// The HTTP status port (7461): what a load balancer's health check and Prometheus ask.
///
/// `/primary/DB` answers 200 only on the server that holds the lease of DB's open epoch and
/// serves it — the same condition under which its Postgres accepts writes — so HAProxy with
/// `option httpchk GET /primary/DB` sends clients to the primary and nowhere else, and during a
/// failover to no one until the new primary serves. Everything else answers 503 (or 404 for a
/// database this server does not know), with the same JSON body as `/DB`.
extension Node {
    static let httpRoutes = "/health, /metrics, /primary/DB, /replica/DB[?lag=BYTES], /sync/DB or /DB"

    func httpAnswer(path: String, query: [String: String]) -> HTTPAnswer {
        let now = MonotonicClock.now()
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch parts.count {
        case 1 where parts[0] == "health":
            let alive = membership.others.filter { $0.record.health == .alive }.count + 1
            return .json(200, .object([("server", .string(config.name)), ("id", .string(identity.serverID.rawValue)),
                                       ("status", .string("up")), ("membersAlive", .int(Int64(alive))),
                                       ("members", .int(Int64(membership.others.count + 1)))]))
        case 1 where parts[0] == "metrics":
            return HTTPAnswer(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metricsText(now: now))
        case 1:
            guard let view = replicaView(named: parts[0], now: now) else { return unknownDatabase(parts[0]) }
            return .json(200, view.json)
        case 2 where ["primary", "replica", "sync"].contains(parts[0]):
            guard let view = replicaView(named: parts[1], now: now) else { return unknownDatabase(parts[1]) }
            var ok: Bool
            switch parts[0] {
            case "primary": ok = view.serving
            case "sync": ok = view.role == .sync && view.dataState == .inSync && view.streaming
            default: ok = (view.role == .sync || view.role == .async) && view.streaming
            }
            if parts[0] == "replica", let raw = query["lag"] {
                guard let limit = Int64(raw), limit >= 0 else {
                    return .error(400, "lag '\(raw)' is not a number of bytes; ask /replica/\(parts[1])?lag=16777216 for at most 16 MiB behind")
                }
                if (view.lagBytes ?? .max) > limit { ok = false }
            }
            return .json(ok ? 200 : 503, view.json)
        default:
            return .error(404, "no such path '\(path)'; this port serves \(Self.httpRoutes)")
        }
    }

    private func unknownDatabase(_ name: String) -> HTTPAnswer {
        .error(404, "\(config.name) holds no database '\(name)'; list them with 'ketchctl get replica'")
    }

    /// One database as this server sees it.
    struct ReplicaView {
        var name: String
        var role: MemberRole
        var dataState: DataState?
        var serving: Bool
        var streaming: Bool
        var lagBytes: Int64?
        var lagSeconds: Double?
        var epoch: EpochStatus?
        var primaryName: String?
        var leaseRemainingMs: Int64?
        var postgresState: String?
        var json: JSONValue {
            var o: [(String, JSONValue)] = [("name", .string(name)), ("role", .string(role.rawValue))]
            o.append(("dataState", dataState.map { .string($0.rawValue) } ?? .null))
            o.append(("serving", .bool(serving)))
            o.append(("streaming", .bool(streaming)))
            o.append(("epoch", epoch.map { .string($0.id.description) } ?? .null))
            o.append(("epochState", epoch.map { .string($0.state.rawValue) } ?? .null))
            o.append(("primary", primaryName.map { .string($0) } ?? .null))
            o.append(("leaseRemainingMs", leaseRemainingMs.map { .int($0) } ?? .null))
            o.append(("postgres", postgresState.map { .string($0) } ?? .null))
            o.append(("lagBytes", lagBytes.map { .int($0) } ?? .null))
            o.append(("lagSeconds", lagSeconds.map { .double($0) } ?? .null))
            return .object(o)
        }
    }

    func replicaView(named dbName: String, now: Instant) -> ReplicaView? {
        guard let id = replicaID(named: dbName), let r = replicaStatus(now: now).first(where: { $0.replica == id }) else { return nil }
        return replicaView(r)
    }

    /// This server's view of one replica's status.
    func replicaView(_ r: ReplicaStatus) -> ReplicaView {
        let me = r.members.first { $0.server == identity.serverID }
        let ps = dbStatus[r.replica]
        let serving = core.isServing(r.replica) && ps?.state == "primary-open"
        let lease = r.lease.flatMap { $0.holder == identity.serverID ? $0.remainingMs : nil }
        return ReplicaView(name: r.name, role: me?.role ?? .spare, dataState: me?.dataState, serving: serving,
                           streaming: ps?.state == "standby" && ps?.error == nil, lagBytes: ps?.lagBytes, lagSeconds: ps?.lagSeconds,
                           epoch: r.epoch, primaryName: r.primary.map { self.name(of: $0) }, leaseRemainingMs: lease, postgresState: ps?.state)
    }

    /// The Prometheus text format (0.0.4): one family per metric, HELP and TYPE first.
    func metricsText(now: Instant) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples {
                let labels = s.labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
                out += labels.isEmpty ? "\(name) \(s.value)\n" : "\(name){\(labels)} \(s.value)\n"
            }
        }
        let server = [("server", config.name)]
        family("ketch_up", "gauge", "1 while this ketch-node answers.", [(server, "1")])
        family("ketch_member_up", "gauge", "Whether this node sees the member alive (1) or suspect or dead (0).",
               membership.others.map { (server + [("member", $0.record.name)], $0.record.health == .alive ? "1" : "0") })
        family("ketch_member_suspicions_total", "counter", "Members this node saw turn suspect.", [(server, "\(counters.suspicions)")])
        family("ketch_member_deaths_total", "counter", "Members this node saw declared dead.", [(server, "\(counters.deaths)")])
        let fsync = outbox.fsyncTotals
        family("ketch_store_fsyncs_total", "counter", "fsyncs of ketch.db (durable protocol records).", [(server, "\(fsync.count)")])
        family("ketch_store_fsync_seconds_total", "counter", "Time spent in those fsyncs.", [(server, String(format: "%.6f", fsync.seconds))])

        let views = replicaStatus(now: now).map { ($0.replica, replicaView($0)) }
        func perDB(_ value: (ReplicaID, ReplicaView) -> String?) -> [(labels: [(String, String)], value: String)] {
            views.compactMap { id, v in value(id, v).map { (server + [("db", v.name)], $0) } }
        }
        family("ketch_replica_serving", "gauge", "1 on the server that holds the lease of the open epoch and serves writes.",
               perDB { _, v in v.serving ? "1" : "0" })
        family("ketch_replica_role", "gauge", "This server's role in the database's epoch (one series per role, 1 for the current one).",
               views.map { _, v in (server + [("db", v.name), ("role", v.role.rawValue)], "1") })
        family("ketch_replica_in_sync", "gauge", "1 when this copy holds every acknowledged write (data state in-sync).",
               perDB { _, v in v.dataState == .inSync ? "1" : "0" })
        family("ketch_replica_epoch", "gauge", "Sequence number of the database's current epoch.",
               perDB { _, v in v.epoch.map { "\($0.id.sequence)" } })
        family("ketch_replica_epoch_open", "gauge", "1 when the current epoch is open (Step 9 done).",
               perDB { _, v in v.epoch.map { $0.state == .open ? "1" : "0" } })
        family("ketch_replica_lease_remaining_seconds", "gauge", "Lease this server holds on the database's epoch, seconds left.",
               perDB { _, v in v.leaseRemainingMs.map { String(format: "%.3f", Double($0) / 1000) } })
        family("ketch_replica_lag_bytes", "gauge", "WAL this standby has not replayed yet, in bytes.", perDB { _, v in v.lagBytes.map { "\($0)" } })
        family("ketch_replica_lag_seconds", "gauge", "Replay delay of this standby, in seconds.",
               perDB { _, v in v.lagSeconds.map { String(format: "%.3f", $0) } })
        family("ketch_replica_epochs_started_total", "counter", "Epochs this server started for the database (failovers, switchovers, reconfigurations).",
               perDB { id, _ in "\(counters.epochsStarted[id] ?? 0)" })
        family("ketch_replica_primary_starts_total", "counter", "Times this server began serving the database as primary.",
               perDB { id, _ in "\(counters.servingStarts[id] ?? 0)" })
        family("ketch_replica_fences_total", "counter", "Times this server stopped serving the database as primary (lease lost or given up).",
               perDB { id, _ in "\(counters.fences[id] ?? 0)" })
        return out
    }

    static func escapeLabel(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
