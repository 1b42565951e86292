import KetchCore
import KetchShared

/// The parallel-failover shape (issue 22): several databases whose primaries all sit on one
/// server, whose node is killed while clients write, so that every database fails over at once
/// onto the same few servers. What made the real race possible is modelled too: a failure
/// detector that suspects a live server for a moment (more often when either is busy), and
/// servers that handle their events late while they promote, clone and follow many copies.
///
/// Suspicions and slowness draw from `loadRng`, their own stream, so turning either off leaves
/// the rest of a seed's schedule (kill, restart, clients, network) as it was.
extension Simulation {
    /// Heavy database actions (initialise, promote, clone, follow) within this window make a
    /// server loaded: one per action.
    static let loadWindowNs: Int64 = 2_000_000_000
    /// False suspicions per second of one live server by one observer, with both idle...
    static let suspicionsPerSecondIdle = 0.002
    /// ...plus this many per unit of load at the observer or the suspected server.
    static let suspicionsPerSecondPerLoad = 0.005
    /// A server is slow from this load on; its lag is drawn up to `lagPerLoadMs` per unit of
    /// load, at most `maxLagMs`, and held for 200-500 ms.
    static let slowFromLoad = 2
    static let lagPerLoadMs: Int64 = 40
    static let maxLagMs: Int64 = 400

    mutating func setUpParallelFailover() {
        let n = config.servers ?? Int(rng.int(4...5))
        addServers(n)
        maxDelayMs = rng.int(1...5)
        detectDelayNs = rng.int(100...800) * 1_000_000
        let replicas = config.replicas ?? Int(rng.int(6...8))
        heavyActions = Array(repeating: [], count: n)
        lagNs = Array(repeating: 0, count: n)
        lagUntil = Array(repeating: 0, count: n)
        var shape: [String] = []
        for r in 0..<replicas {
            let id = ReplicaID("r\(r + 1)")
            replicaIndex[id] = replicaIDs.count
            replicaIDs.append(id)
            // With no async member, a group of three whose standby stops streaming has no
            // caught-up member to move the synchronous place to (Question 3's stall rule).
            let spec = ReplicaSpec(name: "db\(r + 1)", quorumGroupSize: 3,
                                   dbConfig: .init(username: "u", password: "p", port: 5432 + r * 2, closedPort: 5433 + r * 2),
                                   asyncMembers: rng.chance(0.5) ? 0 : nil)
            checker.groupSize[id] = 3
            // Created on s1, or elsewhere and then switched over to s1 by the operator: s1 ends
            // up primary of all, and the groups differ (every server's creates choose s1 and
            // the next names, so those made on s1 all share one group).
            let creator = r == 0 || rng.chance(0.5) ? 0 : 1 + rng.index(n - 1)
            queueCreate(creator, id, spec)
            if creator != 0 { queue.push(2_000_000_000 + Int64(r) * 50_000_000, .operatorSwitchover(id, to: 0)) }
            shape.append("\(id)=3" + (creator != 0 ? "@\(serverIDs[creator])→s1" : "") + (spec.asyncMembers == 0 ? "/no-async" : ""))
        }
        result.shape = "parallel-failover servers=\(n) replicas=[\(shape.joined(separator: " "))] delay≤\(maxDelayMs)ms detect=\(detectDelayNs / 1_000_000)ms"
        startServers()
        queue.push(rng.int(6_000...8_000) * 1_000_000, .kill)
        if config.falseSuspicions { queue.push(100_000_000, .suspicions) }
        queue.push(config.safetySeconds * 1_000_000_000, .heal(.all))
    }

    /// The operator moves the replica's primary to `target`; asked again every 500 ms until it
    /// serves there (a switchover takes a moment, and is refused while one is under way).
    mutating func operatorSwitchover(_ id: ReplicaID, to target: Int) {
        guard !killed else { return }
        let at = servers.indices.first { servers[$0].core?.isServing(id) ?? false }
        if at == target { return }
        if let i = at {
            trace("COMMAND switchover \(id) at \(serverIDs[i]) to \(serverIDs[target])")
            feed(i, .command(.switchover(id, to: serverIDs[target]), now: localNow(i)))
        }
        queue.push(now + 500_000_000, .operatorSwitchover(id, to: target))
    }

    /// kill -9 of the node serving the most primaries: its Postgres copies keep running (they
    /// serve until the watchdog deadline), and the node is started again a few seconds later.
    mutating func killBusiestNode() {
        killed = true
        replicationDirty = true
        var busiest = 0, most = -1
        for i in servers.indices {
            let count = replicaIDs.filter { servers[i].core?.isServing($0) ?? false }.count
            if count > most { busiest = i; most = count }
        }
        trace("FAULT kill -9 of \(serverIDs[busiest])'s node, serving \(most) of \(replicaIDs.count) replicas")
        servers[busiest].core = nil
        servers[busiest].incarnation += 1
        queue.push(now + rng.int(3_000...8_000) * 1_000_000, .restart(busiest))
    }

    /// Counts a heavy database action towards server `i`'s load.
    mutating func noteLoad(_ i: Int, _ action: DatabaseAction) {
        guard config.shape == .parallelFailover else { return }
        switch action {
        case .initialise, .promote, .clone, .follow: heavyActions[i].append(now)
        default: break
        }
    }

    /// Heavy database actions at server `i` within the load window.
    mutating func load(_ i: Int) -> Int {
        heavyActions[i].removeAll { $0 <= now - Self.loadWindowNs }
        return heavyActions[i].count
    }

    /// How late server `i` handles what reaches it now (0 outside parallel-failover, and after
    /// the heal).
    mutating func lag(_ i: Int) -> Int64 {
        guard config.shape == .parallelFailover, config.slowNodes, !healed else { return 0 }
        if now >= lagUntil[i] {
            let l = load(i)
            let before = lagNs[i]
            lagNs[i] = l >= Self.slowFromLoad ? loadRng.int(10...min(Self.lagPerLoadMs * Int64(l), Self.maxLagMs)) * 1_000_000 : 0
            lagUntil[i] = now + loadRng.int(200...500) * 1_000_000
            if lagNs[i] > 0 || before > 0 { trace("SLOW \(serverIDs[i]) handles events \(lagNs[i] / 1_000_000)ms late (load \(l))") }
        }
        return lagNs[i]
    }

    /// Every 100 ms until the heal: each running failure detector may suspect each live server
    /// it sees healthy, for 100-500 ms, as a probe answered late by a busy server is.
    mutating func drawSuspicions() {
        guard !healed else { return }
        for o in servers.indices where processUp(o) {
            for t in servers.indices where t != o && processUp(t) && servers[o].viewFlags[t] && servers[o].suspectedUntil[t] <= now {
                let (lo, lt) = (load(o), load(t))
                let perSecond = Self.suspicionsPerSecondIdle + Self.suspicionsPerSecondPerLoad * Double(lo + lt)
                guard loadRng.chance(perSecond / 10) else { continue }
                let ms = loadRng.int(100...500)
                servers[o].suspectedUntil[t] = now + ms * 1_000_000
                trace("FALSE SUSPICION \(serverIDs[o]) sees \(serverIDs[t]) unhealthy for \(ms)ms (load \(lo)/\(lt))")
                feed(o, .membership(servers[o].view(at: now), now: localNow(o)))
                queue.push(now + ms * 1_000_000, .suspicionEnds(observer: o, target: t))
            }
        }
        queue.push(now + 100_000_000, .suspicions)
    }

    mutating func suspicionEnds(observer o: Int, target t: Int) {
        // A restarted node's detector starts without the old suspicions.
        guard processUp(o), servers[o].suspectedUntil[t] != 0, servers[o].suspectedUntil[t] <= now else { return }
        servers[o].suspectedUntil[t] = 0
        trace("\(serverIDs[o]) sees \(serverIDs[t]) \(servers[o].viewFlags[t] ? "healthy" : "unhealthy") again")
        feed(o, .membership(servers[o].view(at: now), now: localNow(o)))
    }
}
