import KetchCore
import KetchShared

/// The deterministic simulator: N servers running `KetchCore`, a network, clocks with bounded
/// drift, durable stores, a Postgres model and clients — all driven by one seed. Invariants are
/// checked after every step; see `Invariants.swift`.
public struct Simulation {
    enum Event {
        case deliver(from: Int, to: Int, KetchMessage, incarnation: UInt64)
        case tick(Int, incarnation: UInt64)
        case replicate
        case client
        case fault
        case restart(Int)
        /// A fence takes a moment (sessions are terminated); then the node reports it done.
        case fenceDone(Int, ReplicaID, opens: Int, incarnation: UInt64)
        case heal(HealKind)
        /// The Postgres model failed an action; the node reports it a moment later.
        case databaseFailed(Int, ReplicaID, String, incarnation: UInt64)
        case liveness
        /// parallel-failover: the operator switches a replica over to the server its primaries gather on.
        case operatorSwitchover(ReplicaID, to: Int)
        /// parallel-failover: kill -9 of the node that serves the most primaries.
        case kill
        /// parallel-failover: every 100 ms, each failure detector may suspect a live server.
        case suspicions
        case suspicionEnds(observer: Int, target: Int)
    }
    enum HealKind { case link(Int, Int), loss, all }

    struct Clock {
        var bootReal: Int64
        var offset: Int64
        var ppm: Int64
        func local(_ real: Int64) -> Instant {
            let e = real - bootReal
            return Instant(nanoseconds: offset + e + e / 1_000_000 * ppm + (e % 1_000_000) * ppm / 1_000_000)
        }
        /// The real time at which this clock shows `t` (rounded up).
        func real(_ t: Instant) -> Int64 {
            let e = t.nanoseconds - offset
            let q = e / (1_000_000 + ppm), r = e % (1_000_000 + ppm)
            return bootReal + q * 1_000_000 + (r * 1_000_000 + (1_000_000 + ppm - 1)) / (1_000_000 + ppm)
        }
    }

    struct Server {
        var id: ServerID
        var core: KetchCore?
        /// The machine is up (false during a reboot): the database runs only when it is.
        var machineUp = true
        var incarnation: UInt64 = 1
        var boot = 1
        var clock: Clock
        var store: [String: PersistRecord] = [:]
        /// This server's failure-detector view, by server index (itself always healthy).
        var viewFlags: [Bool] = []
        /// A false suspicion: until this real instant the detector reports the server at this
        /// index unhealthy, whatever `viewFlags` says (parallel-failover only).
        var suspectedUntil: [Int64] = []
        /// The real state of each link as last seen, and since when (by server index).
        var truth: [(Bool, Int64)] = []
        var ids: [ServerID] = []
        func view(at now: Int64) -> [ServerID: Bool] {
            var v = Dictionary(uniqueKeysWithValues: zip(ids, viewFlags))
            for (j, until) in suspectedUntil.enumerated() where until > now { v[ids[j]] = false }
            return v
        }
    }

    public internal(set) var result: SimResult
    var config: SimConfig
    var rng: SimRandom
    /// Database failures only: a separate stream, so the main one is drawn exactly as before.
    var dbRng: SimRandom
    var queue = EventQueue<Event>()
    var servers: [Server] = []
    var now: Int64 = 0
    var replicaIDs: [ReplicaID] = []
    var serverIndex: [ServerID: Int] = [:]
    var serverIDs: [ServerID] = []
    /// blocked[a * n + b]: messages from a to b are dropped.
    var blocked: [Bool] = []
    var blockedCount = 0
    var replicationDirty = true
    var replicaIndex: [ReplicaID: Int] = [:]
    /// Each server's database copy of each replica, at `slot(server, replica)` (role `none`
    /// until the core first acts on it).
    var dbs: [DatabaseCopy] = []
    /// The last replication report each primary copy gave its core, at `slot(server, replica)`.
    var lastReport: [[ServerID]?] = []
    var lossRate = 0.0
    var duplicateRate = 0.0
    var maxDelayMs: Int64 = 5
    var detectDelayNs: Int64 = 300_000_000
    var nextValue = 1
    var checker = Invariants()
    let traceBuffer = TraceBuffer()
    var livenessStart: Int64?
    var healed = false
    var recoveredAt: Int64?
    /// The first value written after the heal: liveness waits for one of these to be acknowledged.
    var healValue: Int?
    /// parallel-failover: the stream for false suspicions and slowness, so that turning either
    /// off leaves the rest of a seed's schedule as it was.
    var loadRng: SimRandom
    /// parallel-failover: when each server carried out its recent heavy database actions
    /// (initialise, promote, clone, follow), by server index: its load.
    var heavyActions: [[Int64]] = []
    /// parallel-failover: how late each server handles its events, and until when that holds.
    var lagNs: [Int64] = []
    var lagUntil: [Int64] = []
    /// parallel-failover: the operator's kill has happened.
    var killed = false
    let tickNs: Int64 = 100_000_000
    let leaseDuration = Span.seconds(3)

    public init(config: SimConfig) {
        self.config = config
        self.rng = SimRandom(seed: config.seed)
        self.dbRng = SimRandom(seed: config.seed ^ 0xDB_FA11_ED00)
        self.loadRng = SimRandom(seed: config.seed ^ 0x5105_10AD_F1A9)
        self.result = SimResult(config: config)
        if config.shape == .parallelFailover { setUpParallelFailover() } else { setUp() }
    }

    private mutating func setUp() {
        let n = config.servers ?? Int(rng.int(3...7))
        addServers(n)
        maxDelayMs = rng.int(1...30)
        detectDelayNs = rng.int(100...800) * 1_000_000
        let replicas = config.replicas ?? Int(rng.int(2...4))
        var shape: [String] = []
        for r in 0..<replicas {
            let id = ReplicaID("r\(r + 1)")
            replicaIndex[id] = replicaIDs.count
            replicaIDs.append(id)
            let size = (n >= 5 && rng.chance(0.4)) ? 5 : 3
            let spec = ReplicaSpec(name: "db\(r + 1)", quorumGroupSize: size,
                                   dbConfig: .init(username: "u", password: "p", port: 5432 + r * 2, closedPort: 5433 + r * 2),
                                   asyncMembers: rng.chance(0.3) ? 0 : nil)
            checker.groupSize[id] = size
            shape.append("\(id)=\(size)")
            let home = r % n
            // Everyone sees everyone healthy from the start, then the home server creates it.
            queueCreate(home, id, spec)
        }
        result.shape = "servers=\(n) replicas=[\(shape.joined(separator: " "))] delay≤\(maxDelayMs)ms detect=\(detectDelayNs / 1_000_000)ms"
        startServers()
        queue.push(3_000_000_000 + rng.int(0...1_000_000_000), .fault)
        queue.push(config.safetySeconds * 1_000_000_000, .heal(.all))
    }

    /// `n` servers with clocks drawn from the seed, each with an empty core.
    mutating func addServers(_ n: Int) {
        let driftPPM: Int64 = 100_000
        for i in 0..<n {
            var ppm: Int64
            switch rng.index(3) {
            case 0: ppm = driftPPM - 1_000
            case 1: ppm = -(driftPPM - 1_000)
            default: ppm = rng.int(-(driftPPM - 1_000)...(driftPPM - 1_000))
            }
            if config.beyondDrift && i == 0 { ppm = rng.chance(0.5) ? 250_000 : -250_000 }
            let clock = Clock(bootReal: 0, offset: rng.int(0...1_000_000_000_000), ppm: ppm)
            servers.append(Server(id: ServerID("s\(i + 1)"), core: nil, clock: clock))
        }
        blocked = Array(repeating: false, count: n * n)
        for i in 0..<n { servers[i].core = makeCore(i, restoring: []); serverIndex[servers[i].id] = i; serverIDs.append(servers[i].id) }
    }

    /// Once the replicas are chosen: databases, first membership views and ticks, the creates,
    /// replication and clients.
    mutating func startServers() {
        let n = servers.count, replicas = replicaIDs.count
        dbs = Array(repeating: DatabaseCopy(), count: n * replicas)
        lastReport = Array(repeating: nil, count: n * replicas)
        for i in 0..<n {
            servers[i].ids = serverIDs
            servers[i].viewFlags = Array(repeating: true, count: n)
            servers[i].truth = Array(repeating: (true, 0), count: n)
            servers[i].suspectedUntil = Array(repeating: 0, count: n)
            feed(i, .membership(servers[i].view(at: now), now: localNow(i)))
            queue.push(rng.int(1...tickNs), .tick(i, incarnation: servers[i].incarnation))
        }
        for (i, c) in pendingCreates { feed(i, .command(.createReplica(c.0, c.1), now: localNow(i))) }
        pendingCreates = []
        queue.push(10_000_000, .replicate)
        queue.push(50_000_000, .client)
    }

    var pendingCreates: [(Int, (ReplicaID, ReplicaSpec))] = []
    mutating func queueCreate(_ server: Int, _ id: ReplicaID, _ spec: ReplicaSpec) {
        pendingCreates.append((server, (id, spec)))
    }

    func makeCore(_ i: Int, restoring: [PersistRecord]) -> KetchCore {
        var config = CoreConfig(server: servers[i].id, leaseDuration: leaseDuration, mutation: self.config.mutation)
        config.retryInterval = .milliseconds(200)
        // As the node sets it: a standby whose database stopped following is moved out of the
        // commit path, so the checker sees those reconfigurations too.
        config.dataQuorumStall = CoreConfig.dataQuorumStall(lease: leaseDuration)
        return KetchCore(config: config, bootID: "boot-\(servers[i].boot)", restoring: restoring)
    }

    /// Index of server `i`'s copy of replica `r` in `dbs` and `lastReport`.
    func slot(_ i: Int, _ r: Int) -> Int { i * replicaIDs.count + r }

    func localNow(_ i: Int) -> Instant { servers[i].clock.local(now) }

    func processUp(_ i: Int) -> Bool { servers[i].core != nil }

    func linked(_ a: Int, _ b: Int) -> Bool { blockedCount == 0 || !blocked[a * servers.count + b] }

    mutating func block(_ a: Int, _ b: Int) {
        guard a != b, !blocked[a * servers.count + b] else { return }
        blocked[a * servers.count + b] = true
        blockedCount += 1
    }

    mutating func unblock(_ a: Int, _ b: Int) {
        guard blocked[a * servers.count + b] else { return }
        blocked[a * servers.count + b] = false
        blockedCount -= 1
    }

    /// Runs until the liveness deadline or the first violation.
    public mutating func run() -> SimResult {
        let end = (config.safetySeconds + config.livenessBoundSeconds) * 1_000_000_000
        while let (t, event) = queue.pop() {
            if t > end { break }
            now = t
            result.steps += 1
            step(event)
            if !result.violations.isEmpty { break }
            if livenessDone {
                recoveredAt = now
                break
            }
        }
        if result.violations.isEmpty && !livenessDone {
            let missing = replicaIDs.filter { !checker.livenessServed.contains($0) }
            if !config.needsAck {
                violate("liveness", "after healing at \(config.safetySeconds)s \(missing.map(\.rawValue).joined(separator: ",")) not served by a full-size group within \(config.livenessBoundSeconds)s")
            } else {
                let unacked = replicaIDs.filter { !checker.livenessAcked.contains($0) }
                var parts: [String] = []
                if !missing.isEmpty { parts.append("\(missing.map(\.rawValue).joined(separator: ",")) not served by a full-size group") }
                if !unacked.isEmpty { parts.append("\(unacked.map(\.rawValue).joined(separator: ",")) acknowledged no write issued after it") }
                let states = replicaIDs.filter { missing.contains($0) || unacked.contains($0) }.map(describeLeaders)
                violate("liveness", "after healing at \(config.safetySeconds)s, within \(config.livenessBoundSeconds)s \(parts.joined(separator: " and ")): \(states.joined(separator: "; "))")
            }
        }
        result.simulatedNs = now
        result.recoveryMs = livenessStart.map { (recoveredAt ?? now) - $0 }.map { $0 / 1_000_000 }
        result.trace = traceBuffer.lines
        result.ackedWrites = checker.acked.values.reduce(0) { $0 + $1.count }
        return result
    }

    var livenessDone: Bool {
        healed && replicaIDs.allSatisfy { checker.livenessServed.contains($0) }
            && (!config.needsAck || replicaIDs.allSatisfy { checker.livenessAcked.contains($0) })
    }

    /// Who believes it leads `id`, and what each database is: enough to see two primaries of
    /// one epoch (e.g. "s4 primary of 7@s4 open serving, s2 primary of 7@s4 not open").
    func describeLeaders(_ id: ReplicaID) -> String {
        let r = replicaIndex[id]!
        var leaders: [String] = [], roles: [String] = []
        for i in servers.indices {
            switch dbs[slot(i, r)].role {
            case .none: break
            case .primary: roles.append("\(serverIDs[i])=primary")
            case .standby(let p): roles.append("\(serverIDs[i])=standby(\(serverIDs[p]))")
            }
            guard let core = servers[i].core, let rec = core.replicaRecord(id), rec.primary == serverIDs[i] else { continue }
            leaders.append("\(serverIDs[i]) primary of \(rec.epoch.id.short)\(rec.epochOpen ? " open" : " not open")"
                + (core.isServing(id) ? " serving" : "") + (rec.dataState == .inSync ? "" : " catch-up"))
        }
        return "\(id): \(leaders.isEmpty ? "no primary" : leaders.joined(separator: ", ")); databases \(roles.joined(separator: " "))"
    }

    /// After healing: the replica is served and its group is back at its target size.
    func recovered(_ id: ReplicaID) -> Bool {
        servers.contains { s in
            guard let core = s.core, core.isServing(id), let rec = core.replicaRecord(id) else { return false }
            return rec.epoch.quorumGroup.count == checker.groupSize[id]
        }
    }

    mutating func violate(_ invariant: String, _ message: String) {
        result.violations.append(Violation(invariant: invariant, message: message, step: result.steps, atMs: now / 1_000_000))
        trace("VIOLATION [\(invariant)] \(message)")
    }

    func trace(_ line: @autoclosure () -> String) {
        if config.trace { traceBuffer.lines.append("\(now / 1_000_000)ms \(line())") }
    }

    /// Hands one event to server `i`'s core and carries out the output.
    mutating func feed(_ i: Int, _ event: CoreEvent) {
        guard var core = servers[i].core else { return }
        servers[i].core = nil
        let out: CoreOutput
        if config.measureCore {
            let start = ContinuousClock.now
            out = core.handle(event)
            let d = ContinuousClock.now - start
            result.coreNs += d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
        } else {
            out = core.handle(event)
        }
        servers[i].core = core
        apply(i, out)
    }

    private mutating func step(_ event: Event) {
        switch event {
        case .deliver(let from, let to, let message, let inc):
            _ = inc
            guard processUp(to), linked(from, to) else { return }
            trace("\(servers[from].id) → \(servers[to].id) \(message.kind) \(message.replica) \(message.epoch.short)\(describe(message))")
            feed(to, .received(from: servers[from].id, message, now: localNow(to)))
        case .tick(let i, let inc):
            guard servers[i].incarnation == inc, processUp(i) else { return }
            reportDatabase(i)
            updateMembership(i)
            feed(i, .tick(now: localNow(i)))
            let next = servers[i].clock.real(localNow(i) + Span(nanoseconds: tickNs)) - now
            queue.push(now + max(1, next) + lag(i), .tick(i, incarnation: servers[i].incarnation))
        case .replicate:
            replicateAll()
            queue.push(now + 10_000_000, .replicate)
        case .client:
            clientOperation()
            queue.push(now + rng.int(10...60) * 1_000_000, .client)
        case .fault:
            if !healed {
                injectFault()
                queue.push(now + rng.int(300...2_500) * 1_000_000, .fault)
            }
        case .restart(let i):
            restart(i)
        case .fenceDone(let i, let id, let opens, let inc):
            fenceDone(i, id, opens: opens, incarnation: inc)
        case .heal(let kind):
            heal(kind)
        case .databaseFailed(let i, let id, let message, let inc):
            guard servers[i].incarnation == inc, processUp(i) else { return }
            trace("\(servers[i].id) db \(id) failed: \(message)")
            feed(i, .database(.failed(id, message: message), now: localNow(i)))
        case .liveness:
            break
        case .operatorSwitchover(let id, let to):
            operatorSwitchover(id, to: to)
        case .kill:
            killBusiestNode()
        case .suspicions:
            drawSuspicions()
        case .suspicionEnds(let o, let t):
            suspicionEnds(observer: o, target: t)
        }
    }

    private func describe(_ m: KetchMessage) -> String {
        switch m {
        case .leasePrepare(let x): " b=\(x.ballot)" + (x.successor.map { " succ=\($0.short)" } ?? "")
        case .leasePrepareReply(let x): " b=\(x.ballot)" + (x.refusal.map { " \($0.rawValue)" } ?? " ok") + (x.acceptedOwner.map { " owner=\($0)" } ?? "")
        case .leasePropose(let x): " b=\(x.ballot) owner=\(x.owner)"
        case .leaseProposeReply(let x): " b=\(x.ballot)" + (x.refusal.map { " \($0.rawValue)" } ?? " ok \(x.epochState?.rawValue ?? "-")")
        case .leaseRelease(let x): " b=\(x.ballot)"
        case .epochRevoke(let x): " succ=\(x.successor.short)"
        case .epochRevokeReply(let x): x.refusal.map { " \($0.rawValue)" } ?? " ok"
        case .epochSetupReply(let x), .epochOpenReply(let x), .epochCloseReply(let x), .replicaCreateReply(let x), .replicaUpdateInSyncReply(let x),
             .leaseReleaseReply(let x):
            x.refusal.map { " \($0.rawValue)" } ?? " ok"
        default: ""
        }
    }

    /// Carries out one core output in the node's order: persist, send, database; and checks.
    mutating func apply(_ i: Int, _ out: CoreOutput) {
        result.coreSteps += 1
        for p in out.persist {
            if case .replicaRemoved(let id) = p {
                servers[i].store["replica/\(id.rawValue)"] = nil
                servers[i].store["acceptor/\(id.rawValue)"] = nil
            } else {
                servers[i].store[p.key] = p
            }
            report(checker.observe(p, server: i, servers: serverIDs))
        }
        for (to, message) in out.send {
            if case .leaseRelease(let m) = message, replicaIndex[m.replica].map({ dbs[slot(i, $0)].isOpen(at: localNow(i)) }) ?? false {
                violate("fenced-before-release", "\(m.replica): \(servers[i].id) releases its lease of \(m.epoch.short) while its database still serves clients")
            }
            guard let j = serverIndex[to] else { continue }
            send(from: i, to: j, message)
        }
        for n in out.notes { trace("\(servers[i].id) \(n)") }
        for c in out.database { database(i, c) }
    }

    private mutating func send(from i: Int, to j: Int, _ m: KetchMessage) {
        guard linked(i, j), !rng.chance(lossRate) else { return }
        let copies = rng.chance(duplicateRate) ? 2 : 1
        for _ in 0..<copies {
            let at = now + rng.int(1...maxDelayMs) * 1_000_000 + rng.int(0...999_999)
            queue.push(at + lag(j), .deliver(from: i, to: j, m, incarnation: servers[j].incarnation))
        }
    }
}

extension Simulation {
    mutating func report(_ found: [(String, String)]) {
        for (invariant, message) in found { violate(invariant, message) }
    }
}

final class TraceBuffer {
    var lines: [String] = []
}
