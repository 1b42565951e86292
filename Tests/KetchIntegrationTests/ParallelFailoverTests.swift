import Foundation
import Testing
import KetchShared
#if canImport(Glibc)
import Glibc
#endif

/// Issue 22: many databases fail over at once. Four nodes, eight databases (quorum group 3)
/// all created on server1, so server1 leads nearly all of them; a writer on each; then the
/// server leading most of them (server1 unless they moved) crashes: kill -9 of its node and of
/// every Postgres under its data dir. Before the fix some databases never took a write again:
/// two copies were promoted in one epoch ("split epoch"), each waiting for the other as its
/// synchronous standby. And a whole-cluster restart left a
/// server that had been dropped from a group reporting itself primary of a closed epoch.
@Suite(.serialized) struct ParallelFailoverTests {
    let helper = PostgresFailoverTests()

    /// How long after the kill every database must have taken a write, in seconds: issue 22's
    /// 10 s. On a debug build on two cores the slowest of the eight took 5.0-6.7 s in every run
    /// since reliability finding 33 was fixed (before it, up to 25 s: leases lost under load
    /// right after a promote). `KETCH_PARALLEL_FAILOVER_BOUND_S` asks for another bound.
    static var failoverBound: Double {
        ProcessInfo.processInfo.environment["KETCH_PARALLEL_FAILOVER_BOUND_S"].flatMap(Double.init).map { min(max($0, 1), 300) } ?? 10
    }

    /// KETCH_PARALLEL_FAILOVER_DATABASES (1-8) asks for fewer, to find where it starts to fail.
    static var parallelCount: Int {
        guard let s = ProcessInfo.processInfo.environment["KETCH_PARALLEL_FAILOVER_DATABASES"], let n = Int(s), (1...8).contains(n) else { return 8 }
        return n
    }

    /// One database of a test: its name, service port (closedPort is port + 1) and client.
    struct Database {
        let name: String
        let port: Int
        let sql: SQLClient
    }

    /// `count` databases named `prefix1…`, on ports `firstPort`, `firstPort + 2`, ….
    func databases(_ c: LocalCluster, _ prefix: String, count: Int, firstPort: Int) -> [Database] {
        (1...count).map { k in
            let port = firstPort + 2 * (k - 1)
            return Database(name: "\(prefix)\(k)", port: port, sql: helper.client(c, db: "\(prefix)\(k)", port: port))
        }
    }

    // MARK: - Bring-up


    /// Creates each database through `ketchctl` on server `on` (its node leads it).
    func create(_ c: LocalCluster, _ dbs: [Database], on server: Int) throws {
        for d in dbs {
            let r = try helper.ctl(c, server, ["create", "replica", "-f", "-"], stdin: helper.spec(d.name, port: d.port))
            guard r.status == 0 else { throw TestFailure("create \(d.name) on server\(server + 1) failed: \(r.stderr)") }
        }
    }

    /// Polls each database until it takes a write (the writers' table is created), calling
    /// `opened` for each as it does. Returns the names that did not within `seconds`.
    func waitForWrites(_ dbs: [Database], within seconds: Double, opened: (Int) -> Void = { _ in }) async -> [String] {
        var pending = Array(dbs.indices)
        // Every half second: each round forks up to one psql per database.
        _ = await eventually(within: seconds, every: 0.5) {
            for k in pending where dbs[k].sql.run("CREATE TABLE IF NOT EXISTS ketch_writes(id int PRIMARY KEY)", timeout: 5) != nil {
                pending.removeAll { $0 == k }
                opened(k)
            }
            return pending.isEmpty
        }
        return pending.map { dbs[$0].name }
    }

    // MARK: - What each node reports

    /// Database name → `get replica` attributes, as server i reports them (nil: no answer).
    func replicaViews(_ c: LocalCluster, _ i: Int) async -> [String: JSONValue]? {
        guard let list = await c.get(.replica, from: i, timeout: 2) else { return nil }
        var out: [String: JSONValue] = [:]
        for r in list.data { if case .string(let n)? = r.attributes["name"] { out[n] = r.attributes } }
        return out
    }

    /// Database name → the `state` of server i's own Postgres copy (`get dbmgr`).
    func dbmgrStates(_ c: LocalCluster, _ i: Int) async -> [String: String] {
        guard let list = await c.get(.dbmgr, from: i, timeout: 2) else { return [:] }
        var out: [String: String] = [:]
        for r in list.data { if case .string(let n)? = r.attributes["replica"], case .string(let s)? = r.attributes["state"] { out[n] = s } }
        return out
    }

    func string(_ v: JSONValue?) -> String? { if case .string(let s)? = v { return s }; return nil }
    func array(_ v: JSONValue?) -> [JSONValue] { if case .array(let a)? = v { return a }; return [] }

    /// (name, role, dataState) of each member of a `get replica` view.
    func members(_ view: JSONValue?) -> [(name: String, role: String, data: String?)] {
        array(view?["members"]).compactMap { m in string(m["name"]).map { ($0, string(m["role"]) ?? "?", string(m["dataState"])) } }
    }

    /// The server that calls itself the open primary of `name`: its role is primary, its epoch
    /// open and its `primary` itself.
    func selfDeclaredPrimary(_ c: LocalCluster, _ name: String, _ views: [Int: [String: JSONValue]]) -> Int? {
        views.keys.sorted().first { i in
            let v = views[i]?[name]
            return string(v?["role"]) == "primary" && string(v?["epochState"]) == "open" && string(v?["primary"]) == c.address(i)
        }
    }

    func serverName(_ c: LocalCluster, _ address: String) -> String {
        (0..<c.count).first { c.address($0) == address }.map { "server\($0 + 1)" } ?? address
    }

    func shortEpoch(_ e: String?) -> String {
        guard let e else { return "-" }
        guard let at = e.firstIndex(of: "@") else { return e }
        return String(e[...at]) + e[e.index(after: at)...].prefix(8)
    }

    /// One line for one node's view of one database.
    func describe(_ c: LocalCluster, _ view: JSONValue?) -> String {
        guard let view else { return "no record" }
        let ms = members(view).map { "\(serverName(c, $0.name)):\($0.role)\($0.data.map { "/" + $0 } ?? "")" }.joined(separator: " ")
        return "epoch \(shortEpoch(string(view["epoch"]))) \(string(view["epochState"]) ?? "-"), primary \(string(view["primary"]).map { serverName(c, $0) } ?? "null"), "
            + "role \(string(view["role"]) ?? "-"), dataState \(string(view["dataState"]) ?? "-"), members [\(ms)]"
    }

    /// A database is ready when one server is its open primary, the group is full and every
    /// other member's Postgres streams as a standby.
    func ready(_ c: LocalCluster, _ name: String, views: [Int: [String: JSONValue]], dbmgr: [Int: [String: String]]) -> Bool {
        guard let p = selfDeclaredPrimary(c, name, views), let view = views[p]?[name] else { return false }
        let ms = members(view)
        guard ms.count == 3 else { return false }
        for m in ms where m.name != c.address(p) {
            guard let i = (0..<c.count).first(where: { c.address($0) == m.name }), dbmgr[i]?[name] == "standby" else { return false }
            if m.role == "sync" && m.data != "in-sync" { return false }
        }
        return true
    }

    func snapshot(_ c: LocalCluster, among: [Int]) async -> (views: [Int: [String: JSONValue]], dbmgr: [Int: [String: String]]) {
        var views: [Int: [String: JSONValue]] = [:], dbmgr: [Int: [String: String]] = [:]
        for i in among {
            views[i] = await replicaViews(c, i)
            dbmgr[i] = await dbmgrStates(c, i)
        }
        return (views, dbmgr)
    }

    /// The issue's "split epoch": servers whose views share an epoch id but name different
    /// primaries in it (each promoted, each waiting for the other as its synchronous standby).
    func splitEpoch(_ c: LocalCluster, _ name: String, _ views: [Int: [String: JSONValue]]) -> String? {
        var byEpoch: [String: [(server: Int, primary: String)]] = [:]
        for (i, v) in views {
            guard let e = string(v[name]?["epoch"]), let p = members(v[name]).first(where: { $0.role == "primary" })?.name else { continue }
            byEpoch[e, default: []].append((i, p))
        }
        let split = byEpoch.filter { Set($0.value.map(\.primary)).count > 1 }.sorted { $0.key < $1.key }
        guard !split.isEmpty else { return nil }
        return split.map { e, claims in
            "SPLIT EPOCH \(shortEpoch(e)) of \(name): " + claims.sorted { $0.server < $1.server }.map { "server\($0.server + 1) says primary \(serverName(c, $0.primary))" }.joined(separator: ", ")
        }.joined(separator: "\n")
    }

    /// Each node's `get replica` and `get epoch` for each database named, and each server's log
    /// lines about the first `withLogs` of them (the rest repeat the same story). One `get` of
    /// each kind per node and one read of each log, however many databases are named.
    func diagnosis(_ c: LocalCluster, _ names: [String], among: [Int], withLogs: Int = 3, logLines: Int = 30) async -> String {
        var replicas: [Int: [String: JSONValue]] = [:], epochs: [Int: [Resource]] = [:]
        for i in among {
            replicas[i] = await replicaViews(c, i)
            epochs[i] = await c.get(.epoch, from: i, timeout: 2)?.data
        }
        let logs = (0..<c.count).map { (c.nodes[$0]?.log ?? "").split(separator: "\n") }
        var out = ""
        for (n, name) in names.enumerated() {
            out += "=== \(name)\n"
            var ids: Set<String> = []
            for i in among {
                let view = replicas[i]
                if let id = string(view?[name]?["id"]) { ids.insert(String(id.prefix(8))) }
                out += "server\(i + 1) get replica: \(view == nil ? "no answer" : describe(c, view?[name]))\n"
                for e in epochs[i] ?? [] where e.attributes["replica"] == .string(name) {
                    let a = e.attributes
                    let group = array(a["quorumGroup"]).compactMap { string($0).map { serverName(c, $0) } }
                    let dq = array(a["dataQuorum"]).compactMap { string($0).map { serverName(c, $0) } }
                    var line = "  epoch \(string(a["kind"]) ?? "?") \(shortEpoch(string(a["id"]))) \(string(a["state"]) ?? "?") group \(group) dataQuorum \(dq)"
                    if let succ = string(a["successor"]) { line += " successor \(shortEpoch(succ))" }
                    if let l = a["lease"] {
                        var remaining = "?"
                        if case .int(let ms)? = l["remainingMs"] { remaining = "\(ms) ms" }
                        line += " lease holder \(string(l["holder"]).map { serverName(c, $0) } ?? "none") remaining \(remaining)"
                    }
                    out += line + "\n"
                }
            }
            if let split = splitEpoch(c, name, replicas) { out += split + "\n" }
            guard n < withLogs else { continue }
            for i in 0..<c.count {
                let lines = logs[i].filter { line in line.contains("replica=\(name) ") || ids.contains { line.contains("replica.id=\($0)") } }
                out += "--- server\(i + 1) log (\(lines.count) lines about \(name), last \(min(lines.count, logLines)))\n"
                out += lines.suffix(logLines).joined(separator: "\n") + "\n"
            }
        }
        return out
    }

    func seconds(_ t: Double) -> String { String(format: "%.1fs", t) }

    /// Per live server, from its log since `since`: how often it saw a peer turn suspect (the
    /// core counts only alive members as healthy, so each one can start an epoch) and how many
    /// epochs it started (Step 1-2). Quotable evidence of churn.
    func churn(_ c: LocalCluster, since: Date, among: [Int]) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let from = f.string(from: since)
        return among.map { i in
            var suspect = 0, epochs = 0
            for line in (c.nodes[i]?.log ?? "").split(separator: "\n") where line.prefix(24) >= from {
                if line.contains("alive -> suspect") { suspect += 1 }
                if line.contains("Step 1-2: new epoch") { epochs += 1 }
            }
            return "server\(i + 1) suspicions=\(suspect) new-epochs=\(epochs)"
        }.joined(separator: ", ")
    }

    // MARK: - Kill and measure

    /// Crashes the server that leads the most databases right now (server1, which created them,
    /// unless churn moved them) while every writer writes, then waits (up to `giveUp` s) until
    /// each database took a write that started after the kill. Returns the server killed and
    /// each database's time to that write (nil: none), having printed them on one line.
    func crashBusiestAndMeasure(_ c: LocalCluster, _ dbs: [Database], _ writers: [RecordingWriter], tag: String, bound: Double, giveUp: Double) async -> (victim: Int, firstWrite: [String: Double]) {
        let views = await snapshot(c, among: Array(0..<c.count)).views
        var led = Array(repeating: 0, count: c.count)
        for d in dbs { if let p = selfDeclaredPrimary(c, d.name, views) { led[p] += 1 } }
        let victim = led.indices.max { led[$0] < led[$1] || (led[$0] == led[$1] && $0 > $1) } ?? 0
        let (killedAt, killed) = c.crash(victim)
        let placement = led.indices.filter { led[$0] > 0 }.map { "server\($0 + 1)=\(led[$0])" }.joined(separator: " ")
        print("\(tag): open primaries just before the kill: \(placement.isEmpty ? "none" : placement) of \(dbs.count); kill -9 of server\(victim + 1)'s node and its \(killed.count) Postgres processes")
        var firstWrite: [String: Double] = [:]
        _ = await eventually(within: giveUp, every: 0.05) {
            for (d, w) in zip(dbs, writers) where firstWrite[d.name] == nil {
                if let t = w.firstAck(startedAfter: killedAt) { firstWrite[d.name] = t.timeIntervalSince(killedAt) }
            }
            return firstWrite.count == dbs.count
        }
        let line = dbs.map { d in "\(d.name)=" + (firstWrite[d.name].map { seconds($0) } ?? "none>\(Int(giveUp))s") }.joined(separator: " ")
        let worst = firstWrite.values.max().map { seconds($0) } ?? "-"
        print("\(tag): \(line) (max \(worst), bound \(Int(bound)) s)")
        print("\(tag): since the kill: \(churn(c, since: killedAt, among: survivors(c, victim)))")
        return (victim, firstWrite)
    }

    func survivors(_ c: LocalCluster, _ victim: Int) -> [Int] { (0..<c.count).filter { $0 != victim } }

    /// Stops the writers and checks on the new primaries that every acknowledged id is stored.
    func checkNothingLost(_ c: LocalCluster, _ dbs: [Database], _ writers: [RecordingWriter], writable: Set<String>, tag: String) async {
        for w in writers { w.stop() }
        var summary: [String] = []
        for (d, w) in zip(dbs, writers) where writable.contains(d.name) {
            let acked = Set(w.acknowledgedIDs)
            guard let stored = await helper.storedIDs(d.sql) else {
                Issue.record("\(d.name): no primary served its table within 30 s after the writers stopped")
                summary.append("\(d.name)=unreadable")
                continue
            }
            let lost = acked.subtracting(stored)
            summary.append("\(d.name)=\(acked.count)/\(lost.count)")
            #expect(lost.isEmpty, "\(d.name): acknowledged writes lost: \(lost.sorted().prefix(20))")
        }
        print("\(tag): acknowledged/lost \(summary.joined(separator: " "))")
    }

    /// Databases that never took their first write: why, as each node sees them.
    func neverOpened(_ c: LocalCluster, _ names: [String], since: Date) async {
        let why = await diagnosis(c, names, among: Array(0..<c.count))
        Issue.record(Comment(rawValue: "never took a first write: \(names); \(churn(c, since: since, among: Array(0..<c.count)))\n\(why)"))
    }

    func assertTimely(_ c: LocalCluster, _ dbs: [Database], _ firstWrite: [String: Double], bound: Double, victim: Int) async {
        let slow = dbs.filter { (firstWrite[$0.name] ?? .infinity) > bound }
        guard !slow.isEmpty else { return }
        var report = "\(slow.count) of \(dbs.count) databases took no write within \(Int(bound)) s of the kill: "
            + slow.map { "\($0.name) (\(firstWrite[$0.name].map { seconds($0) } ?? "never"))" }.joined(separator: ", ") + "\n"
        report += await diagnosis(c, slow.map(\.name), among: survivors(c, victim))
        Issue.record(Comment(rawValue: report))
    }

    // MARK: - The tests

    /// The issue's scenario: the kill comes once every database is settled (all standbys
    /// streaming). Every database must take a write again within `failoverBound`, losing nothing.
    @Test func eightDatabasesFailOverWhenTheServerHoldingTheirPrimariesIsKilled() async throws {
        let c = try LocalCluster(portBase: 17_400)
        defer { c.shutdown() }
        let dbs = databases(c, "dens", count: Self.parallelCount, firstPort: 17_500)
        try c.startAll()
        guard await c.converged() else { Issue.record("cluster did not converge:\n\(c.logs())"); return }
        let createdAt = Date()
        try create(c, dbs, on: 0)

        let closed = await waitForWrites(dbs, within: 240)
        guard closed.isEmpty else { await neverOpened(c, closed, since: createdAt); return }
        let settled = await eventually(within: 180, every: 0.5) {
            let s = await snapshot(c, among: [0, 1, 2, 3])
            return dbs.allSatisfy { ready(c, $0.name, views: s.views, dbmgr: s.dbmgr) }
        }
        let before = await snapshot(c, among: [0, 1, 2, 3])
        let placement = dbs.map { d in "\(d.name)@" + (selfDeclaredPrimary(c, d.name, before.views).map { "server\($0 + 1)" } ?? "?") }
        print("parallel-failover: \(dbs.count) databases open with their standbys \(seconds(Date().timeIntervalSince(createdAt))) after the creates; primaries \(placement.joined(separator: " "))")
        guard settled else {
            var report = "not every database got its standbys within 180 s\n"
            report += await diagnosis(c, dbs.filter { !ready(c, $0.name, views: before.views, dbmgr: before.dbmgr) }.map(\.name), among: [0, 1, 2, 3])
            Issue.record(Comment(rawValue: report)); return
        }

        let writers = dbs.map { RecordingWriter(client: $0.sql, pause: 0.25, retryPause: 0.25) }
        defer { for w in writers { w.stop() } }
        for w in writers { w.start() }
        let writing = await eventually(within: 60) { writers.allSatisfy { $0.ackCount >= 10 } }
        guard writing else {
            Issue.record("the writers made no progress before the kill: \(zip(dbs, writers).map { "\($0.name)=\($1.ackCount)" }); \(churn(c, since: createdAt, among: [0, 1, 2, 3]))")
            return
        }

        print("parallel-failover: before the kill: \(churn(c, since: createdAt, among: [0, 1, 2, 3]))")
        let bound = Self.failoverBound
        let (victim, firstWrite) = await crashBusiestAndMeasure(c, dbs, writers, tag: "parallel-failover", bound: bound, giveUp: max(bound, 30))
        let goal = dbs.allSatisfy { (firstWrite[$0.name] ?? .infinity) <= 10 }
        print("parallel-failover: the 10 s goal of issue 22 was \(goal ? "met" : "missed") in this run")
        await assertTimely(c, dbs, firstWrite, bound: bound, victim: victim)
        await checkNothingLost(c, dbs, writers, writable: Set(firstWrite.keys), tag: "parallel-failover")
    }

    /// The same crash while the databases are still being set up: it comes as soon as every
    /// database has acknowledged its first write, when the later standbys are still being
    /// cloned. Every database must take a write again within `failoverBound`, losing nothing.
    @Test func eightDatabasesFailOverWhenTheServerIsKilledWhileTheirStandbysAreStillCloning() async throws {
        let c = try LocalCluster(portBase: 17_410)
        defer { c.shutdown() }
        let dbs = databases(c, "clone", count: Self.parallelCount, firstPort: 17_520)
        try c.startAll()
        guard await c.converged() else { Issue.record("cluster did not converge:\n\(c.logs())"); return }
        let createdAt = Date()
        try create(c, dbs, on: 0)

        let writers = dbs.map { RecordingWriter(client: $0.sql, pause: 0.25, retryPause: 0.25) }
        defer { for w in writers { w.stop() } }
        let closed = await waitForWrites(dbs, within: 240) { writers[$0].start() }
        guard closed.isEmpty else { await neverOpened(c, closed, since: createdAt); return }
        let writing = await eventually(within: 60, every: 0.02) { writers.allSatisfy { $0.ackCount >= 1 } }
        guard writing else {
            Issue.record("the writers made no progress before the kill: \(zip(dbs, writers).map { "\($0.name)=\($1.ackCount)" }); \(churn(c, since: createdAt, among: [0, 1, 2, 3]))")
            return
        }

        // What the kill interrupts: members whose Postgres does not stream yet.
        let before = await snapshot(c, among: [0, 1, 2, 3])
        var cloning: [String] = [], between: [String] = []
        for d in dbs {
            guard let p = selfDeclaredPrimary(c, d.name, before.views) else { between.append(d.name); continue }
            for m in members(before.views[p]?[d.name]) where m.name != c.address(p) {
                let i = (0..<c.count).first { c.address($0) == m.name } ?? -1
                if before.dbmgr[i]?[d.name] != "standby" { cloning.append("\(d.name):server\(i + 1)(\(m.role),\(before.dbmgr[i]?[d.name] ?? "no copy"))") }
            }
        }
        print("parallel-failover-cloning: all \(dbs.count) wrote \(seconds(Date().timeIntervalSince(createdAt))) after the creates; at the kill, standbys not streaming yet: "
              + "\(cloning.isEmpty ? "none" : cloning.joined(separator: " ")); databases with no open primary (between epochs): \(between.isEmpty ? "none" : between.joined(separator: " "))")
        if cloning.isEmpty { print("parallel-failover-cloning: note: every standby of an open database already streamed, so this run did not interrupt a clone") }

        print("parallel-failover-cloning: before the kill: \(churn(c, since: createdAt, among: [0, 1, 2, 3]))")
        let bound = Self.failoverBound
        let (victim, firstWrite) = await crashBusiestAndMeasure(c, dbs, writers, tag: "parallel-failover-cloning", bound: bound, giveUp: max(bound, 30))
        await assertTimely(c, dbs, firstWrite, bound: bound, victim: victim)
        await checkNothingLost(c, dbs, writers, writable: Set(firstWrite.keys), tag: "parallel-failover-cloning")
    }

    /// Every node's view of `name` agrees on its epoch and primary (nodes that hold no record of
    /// it are not asked), and the database's open primary is among them. Returns that epoch and
    /// primary, or nil.
    func agreement(_ c: LocalCluster, _ name: String, _ views: [Int: [String: JSONValue]]) -> (epoch: String, primary: String)? {
        let holders = views.values.compactMap { $0[name] }
        guard views.count == c.count, let first = holders.first, let epoch = string(first["epoch"]),
              let primary = selfDeclaredPrimary(c, name, views).map({ c.address($0) }) else { return nil }
        for v in holders {
            guard string(v["epoch"]) == epoch, members(v).first(where: { $0.role == "primary" })?.name == primary else { return nil }
            if let p = string(v["primary"]), p != primary { return nil }
        }
        return (epoch, primary)
    }

    /// Servers outside `name`'s quorum group (as its open primary reports it) that report
    /// themselves `role: primary`.
    func outsidersClaimingPrimary(_ c: LocalCluster, _ name: String, _ views: [Int: [String: JSONValue]]) -> [Int] {
        guard let p = selfDeclaredPrimary(c, name, views) else { return [] }
        let group = Set(members(views[p]?[name]).map(\.name))
        return views.keys.sorted().filter { i in !group.contains(c.address(i)) && string(views[i]?[name]?["role"]) == "primary" }
    }

    /// Ctrl-C of scripts/demo, twice: every node is stopped at once (SIGTERM) and started again.
    /// Each time every database must take writes again, every node's `get replica` must come to
    /// agree on each database's epoch and primary, and no server outside a database's quorum
    /// group may report itself its primary. Nothing acknowledged is lost.
    @Test func wholeClusterRestartsLeaveEveryMemberAgreeing() async throws {
        let c = try LocalCluster(portBase: 17_420)
        defer { c.shutdown() }
        let dbs = databases(c, "rst", count: 2, firstPort: 17_540)
        try c.startAll()
        guard await c.converged() else { Issue.record("cluster did not converge:\n\(c.logs())"); return }
        let createdAt = Date()
        try create(c, [dbs[0]], on: 0)
        try create(c, [dbs[1]], on: 1)
        let closed = await waitForWrites(dbs, within: 180)
        guard closed.isEmpty else { await neverOpened(c, closed, since: createdAt); return }
        let settled = await eventually(within: 120, every: 0.5) {
            let s = await snapshot(c, among: [0, 1, 2, 3])
            return dbs.allSatisfy { ready(c, $0.name, views: s.views, dbmgr: s.dbmgr) }
        }
        guard settled else { Issue.record("standbys not ready within 120 s:\n\(c.logs())"); return }

        var acked: [String: Set<Int>] = [:]
        var next = 1
        func write(_ d: Database, timeout: Int = 5) -> Bool {
            defer { next += 1 }
            guard d.sql.run("INSERT INTO ketch_writes(id) VALUES (\(next))", timeout: timeout) != nil else { return false }
            acked[d.name, default: []].insert(next)
            return true
        }
        for _ in 0..<10 { for d in dbs { _ = write(d) } }

        for round in 1...2 {
            let stop = c.stopAllNodes(within: 30)
            #expect(stop.killed.isEmpty, "round \(round): servers \(stop.killed.map { $0 + 1 }) did not stop within 30 s of SIGTERM")
            var leftovers: [String] = []
            for i in 0..<c.count {
                let left = c.postgresProcesses(of: i).filter(isAlive)
                if !left.isEmpty { leftovers.append("server\(i + 1): \(left)") }
                for pid in left { kill(pid, SIGKILL) }
            }
            #expect(leftovers.isEmpty, "round \(round): Postgres still ran after its node stopped on SIGTERM: \(leftovers)")

            let restartedAt = Date()
            try c.startAll()
            guard await c.converged() else { Issue.record("round \(round): cluster did not converge after the restart:\n\(c.logs())"); return }
            var writableAfter: [String: Double] = [:]
            _ = await eventually(within: 90, every: 0.2) {
                for d in dbs where writableAfter[d.name] == nil && write(d, timeout: 3) {
                    writableAfter[d.name] = Date().timeIntervalSince(restartedAt)
                }
                return writableAfter.count == dbs.count
            }
            var agreed: [String: (epoch: String, primary: String)] = [:]
            var views: [Int: [String: JSONValue]] = [:]
            _ = await eventually(within: 30, every: 0.2) {
                views = await snapshot(c, among: [0, 1, 2, 3]).views
                for d in dbs { agreed[d.name] = agreement(c, d.name, views) }
                return agreed.values.count == dbs.count
            }
            let agreedAfter = Date().timeIntervalSince(restartedAt)
            let line = dbs.map { d in
                "\(d.name) writable " + (writableAfter[d.name].map { seconds($0) } ?? "never") + ", "
                    + (agreed[d.name].map { "agreed epoch \(shortEpoch($0.epoch)) primary \(serverName(c, $0.primary))" } ?? "no agreement")
            }
            print("cluster-restart round \(round): stopped in \(seconds(stop.seconds)); \(line.joined(separator: "; ")) (\(seconds(agreedAfter)) after the start); \(churn(c, since: restartedAt, among: [0, 1, 2, 3]))")
            for d in dbs {
                let outsiders = outsidersClaimingPrimary(c, d.name, views)
                let group = selfDeclaredPrimary(c, d.name, views).map { p in members(views[p]?[d.name]).map { serverName(c, $0.name) } }
                let viewText = "quorum group per its open primary: \(group.map { "\($0)" } ?? "no open primary")\n"
                    + (0..<c.count).map { "server\($0 + 1): \(describe(c, views[$0]?[d.name]))" }.joined(separator: "\n")
                if writableAfter[d.name] == nil {
                    let why = await diagnosis(c, [d.name], among: [0, 1, 2, 3])
                    Issue.record(Comment(rawValue: "round \(round): \(d.name) took no write within 90 s of the restart\n\(why)"))
                }
                if agreed[d.name] == nil {
                    Issue.record(Comment(rawValue: "round \(round): the nodes did not agree on \(d.name)'s epoch and primary within 30 s of it taking writes:\n\(viewText)"))
                }
                #expect(outsiders.isEmpty, "round \(round): servers \(outsiders.map { $0 + 1 }) are outside \(d.name)'s quorum group yet report role primary:\n\(viewText)")
            }
        }

        for d in dbs {
            guard let stored = await helper.storedIDs(d.sql) else { Issue.record("\(d.name): no primary served its table at the end"); continue }
            let lost = (acked[d.name] ?? []).subtracting(stored)
            #expect(lost.isEmpty, "\(d.name): acknowledged writes lost across the restarts: \(lost.sorted())")
        }
        print("cluster-restart: acknowledged \(dbs.map { "\($0.name)=\(acked[$0.name]?.count ?? 0)" }.joined(separator: " ")), lost none checked above")
    }
}
