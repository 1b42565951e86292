import KetchCore
import KetchShared

/// A small, fully deterministic cluster for scenario tests: perfect clocks, 1 ms messages,
/// perfect failure detection at each tick, and a database that streams instantly.
struct ScenarioCluster {
    struct Node {
        var id: ServerID
        var core: KetchCore?
        var boot = 1
        var store: [String: PersistRecord] = [:]
        var isolated = false
        /// Database role per replica: nil none, "primary", or the followed server.
        var following: [ReplicaID: ServerID] = [:]
        var primaryOf: Set<ReplicaID> = []
    }
    enum Event { case deliver(Int, Int, KetchMessage), tick(Int), report(Int, DatabaseReport) }

    var nodes: [Node] = []
    var now: Int64 = 0
    var queue: [(Int64, Int, Event)] = []
    var order = 0
    var transcript: [String] = []
    /// Servers whose databases have stopped keeping up (a hung Postgres on a healthy server):
    /// their primary no longer reports them caught up.
    var stalledDatabases: Set<Int> = []
    /// False suspicions of the failure detector: `suspicions[i]` are the servers that server i
    /// sees as unhealthy although they are up and connected (a loaded node that missed probes).
    var suspicions: [Int: Set<Int>] = [:]
    let dataQuorumStall: Span?

    init(servers: Int, dataQuorumStall: Span? = nil) {
        self.dataQuorumStall = dataQuorumStall
        for i in 0..<servers {
            let id = ServerID("s\(i + 1)")
            nodes.append(Node(id: id, core: Self.makeCore(id, boot: 1, restoring: [], dataQuorumStall: dataQuorumStall)))
        }
        for i in nodes.indices { push(Int64(i + 1) * 1_000_000, .tick(i)) }
        for i in nodes.indices { feed(i, .membership(view(i), now: instant)) }
    }

    static func makeCore(_ id: ServerID, boot: Int, restoring: [PersistRecord], dataQuorumStall: Span? = nil) -> KetchCore {
        var c = CoreConfig(server: id, dataQuorumStall: dataQuorumStall)
        c.retryInterval = .milliseconds(200)
        return KetchCore(config: c, bootID: "boot-\(boot)", restoring: restoring)
    }

    var instant: Instant { Instant(nanoseconds: now) }

    func index(_ name: String) -> Int? { nodes.firstIndex { $0.id.rawValue == name } }

    func connected(_ a: Int, _ b: Int) -> Bool { a == b || (!nodes[a].isolated && !nodes[b].isolated) }

    func view(_ i: Int) -> [ServerID: Bool] {
        Dictionary(uniqueKeysWithValues: nodes.indices.map {
            (nodes[$0].id, nodes[$0].core != nil && connected(i, $0) && !(suspicions[i]?.contains($0) ?? false))
        })
    }

    /// Server `i` starts (or stops) suspecting server `j`; its core hears of it at once, as a
    /// node's core hears of every membership change.
    mutating func suspect(_ i: Int, _ j: Int, _ on: Bool) {
        if on { suspicions[i, default: []].insert(j) } else { suspicions[i]?.remove(j) }
        log("\(nodes[i].id) \(on ? "SUSPECTS" : "TRUSTS") \(nodes[j].id)")
        feed(i, .membership(view(i), now: instant))
    }

    /// Whether a commit on `replica` can be acknowledged now: exactly one server serves it, and
    /// every other member of its data quorum (as the serving server's record has it) streams
    /// from that server's database. Describes why not otherwise.
    func writable(_ replica: ReplicaID) -> String {
        let serving = nodes.indices.filter { nodes[$0].core?.isServing(replica) ?? false }
        guard serving.count == 1, let p = serving.first, let rec = nodes[p].core?.replicaRecord(replica) else {
            return "no: serving [\(serving.map { nodes[$0].id.rawValue }.joined(separator: ","))]"
        }
        let primary = nodes[p].id
        var problems: [String] = []
        for s in rec.epoch.dataQuorum where s != primary {
            guard let j = index(s.rawValue) else { continue }
            if nodes[j].primaryOf.contains(replica) { problems.append("\(s) promoted") }
            else if nodes[j].following[replica] != primary { problems.append("\(s) follows \(nodes[j].following[replica]?.rawValue ?? "nobody")") }
        }
        return problems.isEmpty ? "yes: \(primary) with [\(rec.epoch.dataQuorum.filter { $0 != primary }.map(\.rawValue).joined(separator: ","))]"
            : "no: \(primary) serves, \(problems.joined(separator: ", "))"
    }

    mutating func push(_ t: Int64, _ e: Event) {
        order += 1
        queue.append((t, order, e))
    }

    mutating func log(_ s: String) { transcript.append("\(now / 1_000_000)ms \(s)") }

    mutating func feed(_ i: Int, _ event: CoreEvent) {
        guard var core = nodes[i].core else { return }
        let out = core.handle(event)
        nodes[i].core = core
        for p in out.persist {
            if case .replicaRemoved(let id) = p {
                nodes[i].store["replica/\(id.rawValue)"] = nil
                nodes[i].store["acceptor/\(id.rawValue)"] = nil
            } else {
                nodes[i].store[p.key] = p
            }
        }
        for (to, m) in out.send {
            guard let j = nodes.firstIndex(where: { $0.id == to }), connected(i, j) else { continue }
            push(now + 1_000_000, .deliver(i, j, m))
        }
        for n in out.notes { log("\(nodes[i].id) \(n)") }
        for c in out.database {
            switch c.action {
            case .initialise, .promote:
                nodes[i].primaryOf.insert(c.replica); nodes[i].following[c.replica] = nil
            case .clone(let from), .follow(let from):
                nodes[i].primaryOf.remove(c.replica); nodes[i].following[c.replica] = from
            case .stop:
                nodes[i].primaryOf.remove(c.replica); nodes[i].following[c.replica] = nil
            case .extendLease:
                continue
            case .fence:
                // The node reports each fence once sessions are ended and the watchdog disarmed.
                push(now + 1_000_000, .report(i, .fenced(c.replica)))
            default:
                break
            }
            log("\(nodes[i].id) db \(c)")
        }
    }

    /// Processes events up to `until` (ns); stops early when `stop` matches a transcript line.
    mutating func run(until: Int64, stop: ((String) -> Bool)? = nil) -> Bool {
        while true {
            guard let k = queue.indices.min(by: { (queue[$0].0, queue[$0].1) < (queue[$1].0, queue[$1].1) }), queue[k].0 <= until else { break }
            let (t, _, e) = queue.remove(at: k)
            now = t
            let before = transcript.count
            switch e {
            case .deliver(let from, let to, let m):
                if nodes[to].core != nil && connected(from, to) { feed(to, .received(from: nodes[from].id, m, now: instant)) }
            case .report(let i, let report):
                feed(i, .database(report, now: instant))
            case .tick(let i):
                guard nodes[i].core != nil else { continue }
                for r in nodes[i].primaryOf.sorted() {
                    let caught = nodes.indices.filter { $0 != i && nodes[$0].following[r] == nodes[i].id && connected(i, $0) && !stalledDatabases.contains($0) }.map { nodes[$0].id }
                    feed(i, .database(.replication(r, caughtUp: caught), now: instant))
                }
                feed(i, .membership(view(i), now: instant))
                feed(i, .tick(now: instant))
                push(now + 100_000_000, .tick(i))
            }
            if let stop, transcript[before...].contains(where: stop) { return true }
        }
        now = max(now, until)
        return false
    }

    mutating func crash(_ i: Int) {
        nodes[i].core = nil
        log("\(nodes[i].id) CRASH")
    }

    mutating func restart(_ i: Int, reboot: Bool) {
        if reboot { nodes[i].boot += 1 }
        let records = nodes[i].store.keys.sorted().map { nodes[i].store[$0]! }
        nodes[i].core = Self.makeCore(nodes[i].id, boot: nodes[i].boot, restoring: records, dataQuorumStall: dataQuorumStall)
        log("\(nodes[i].id) \(reboot ? "REBOOT" : "RESTART")")
        queue.removeAll { if case .tick(let j) = $0.2 { return j == i } else { return false } }
        push(now + 1, .tick(i))
    }
}
