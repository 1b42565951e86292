import KetchCore
import KetchShared

extension Simulation {
    /// A server's database reports to its core what a real node would poll from Postgres.
    mutating func reportDatabase(_ i: Int) {
        guard servers[i].machineUp, processUp(i) else { return }
        for r in replicaIDs.indices {
            guard dbs[slot(i, r)].role == .primary else { continue }
            var caughtUp: [ServerID] = []
            for j in servers.indices where j != i && servers[j].machineUp && linked(i, j) && linked(j, i) {
                if dbs[slot(j, r)].role == .standby(i), sameLog(dbs[slot(j, r)].log, dbs[slot(i, r)].log) {
                    caughtUp.append(serverIDs[j])
                }
            }
            guard lastReport[slot(i, r)] != caughtUp else { continue }
            lastReport[slot(i, r)] = caughtUp
            feed(i, .database(.replication(replicaIDs[r], caughtUp: caughtUp), now: localNow(i)))
        }
    }

    /// The simulator's failure detector: a server is healthy in another's view when it is up and
    /// both links work, once that has held for the detection delay.
    mutating func updateMembership(_ i: Int) {
        var changed = false
        for j in servers.indices where j != i {
            let truth = processUp(j) && linked(i, j) && linked(j, i)
            let (last, since) = servers[i].truth[j]
            if last != truth { servers[i].truth[j] = (truth, now); continue }
            if servers[i].viewFlags[j] != truth && now - since >= detectDelayNs {
                servers[i].viewFlags[j] = truth
                changed = true
            }
        }
        if changed {
            let view = servers[i].view(at: now)
            trace("\(servers[i].id) membership: \(view.filter { !$0.value }.keys.sorted().map(\.rawValue)) unhealthy")
            feed(i, .membership(view, now: localNow(i)))
        }
    }

    /// Carries out one database action on the model.
    mutating func database(_ i: Int, _ c: DatabaseCommand) {
        let id = c.replica
        guard let r = replicaIndex[id] else { return }
        replicationDirty = true
        let k = slot(i, r)
        var copy = dbs[k]
        dbs[k] = DatabaseCopy()
        trace("\(servers[i].id) db \(c)")
        noteLoad(i, c.action)
        switch c.action {
        case .initialise, .clone, .follow, .promote, .stop:
            // A new term for the copy: its next report as primary is sent even if it names the
            // same standbys as one from an earlier term (the core drops those when it stops
            // being primary), as `KetchNode` reports on every poll.
            lastReport[k] = nil
        default:
            break
        }
        switch c.action {
        case .initialise:
            copy = DatabaseCopy(role: .primary)
        case .clone(let from):
            copy.log = []
            copy.role = .standby(serverIndex[from]!)
            copy.openUntil = nil
        case .follow(let primary):
            copy.role = .standby(serverIndex[primary]!)
            copy.openUntil = nil
            copy.pending = []
        case .promote:
            copy.role = .primary
        case .setSynchronousStandbys(let s):
            copy.synchronous = s.map { serverIndex[$0]! }
        case .openToClients(let until):
            copy.openUntil = until
            copy.opens += 1
            report(checker.opened(replica: id, server: i, log: copy.log, endReal: servers[i].clock.real(until), now: now))
        case .extendLease(let until):
            if copy.openUntil != nil {
                copy.openUntil = until
                report(checker.opened(replica: id, server: i, log: copy.log, endReal: servers[i].clock.real(until), now: now))
            }
        case .fence:
            // Serving continues until the fence completes (or the watchdog deadline passes).
            copy.fenceDoneReal = max(now + rng.int(1...20) * 1_000_000, copy.fenceDoneReal + 1)
            queue.push(copy.fenceDoneReal, .fenceDone(i, id, opens: copy.opens, incarnation: servers[i].incarnation))
        case .stop:
            copy.role = .none
            copy.openUntil = nil
            copy.pending = []
            checker.closed(replica: id, server: i, at: now)
        }
        if config.databaseFailures, let rate = failureRate(c.action), dbRng.chance(rate) {
            // Postgres exits (e.g. "WAL ends before consistent recovery point"): the copy is down
            // until the core points it somewhere again.
            copy.role = .none
            copy.openUntil = nil
            copy.pending = []
            lastReport[k] = nil
            result.databaseFailures += 1
            queue.push(now + dbRng.int(1...50) * 1_000_000, .databaseFailed(i, id, "\(c.action) failed (model)", incarnation: servers[i].incarnation))
        }
        dbs[k] = copy
    }

    /// How often the model fails an action: promotes often enough that most seeds see one.
    func failureRate(_ action: DatabaseAction) -> Double? {
        switch action {
        case .promote: 0.1
        case .follow, .clone: 0.02
        default: nil
        }
    }

    /// A fence completes: client service stops (unless the copy was opened again since), and a
    /// running node reports it, as `KetchNode` does once sessions are ended and the watchdog is
    /// disarmed.
    mutating func fenceDone(_ i: Int, _ id: ReplicaID, opens: Int, incarnation: UInt64) {
        let k = slot(i, replicaIndex[id]!)
        if servers[i].machineUp, dbs[k].opens == opens {
            dbs[k].openUntil = nil
            dbs[k].pending = []
            checker.closed(replica: id, server: i, at: now)
            replicationDirty = true
        }
        guard servers[i].incarnation == incarnation, processUp(i) else { return }
        trace("\(servers[i].id) db \(id) fenced")
        feed(i, .database(.fenced(id), now: localNow(i)))
        // The core ignores replication reports while a fence is under way (one polled before
        // it may predate the last acknowledged commits); the node reports on every poll, so the
        // next report after the fence is sent even if it names the same standbys.
        lastReport[k] = nil
        replicationDirty = true
    }

    /// Values are unique and every log is a copy of a prefix of another plus its own appends, so
    /// two logs with the same length and last value are equal.
    func sameLog(_ a: [Int], _ b: [Int]) -> Bool { a.count == b.count && a.last == b.last }

    /// Streaming replication and commit acknowledgement, every 10 ms of real time.
    mutating func replicateAll() {
        guard replicationDirty else { return }
        replicationDirty = false
        for r in replicaIDs.indices {
            for j in servers.indices where servers[j].machineUp {
                guard case .standby(let i) = dbs[slot(j, r)].role, servers[i].machineUp,
                      linked(i, j), linked(j, i), dbs[slot(i, r)].role == .primary else { continue }
                // Follow, rewinding whatever the primary does not have (pg_rewind).
                if !sameLog(dbs[slot(j, r)].log, dbs[slot(i, r)].log) {
                    dbs[slot(j, r)].log = dbs[slot(i, r)].log
                    replicationDirty = true
                }
            }
            for i in servers.indices where servers[i].machineUp && !dbs[slot(i, r)].pending.isEmpty {
                let k = slot(i, r)
                if !dbs[k].isOpen(at: localNow(i)) {
                    dbs[k].pending = []
                    continue
                }
                let log = dbs[k].log
                let synchronous = dbs[k].synchronous
                var still: [Int] = []
                for v in dbs[k].pending {
                    guard let index = log.lastIndex(of: v) else { continue }
                    let everyone = synchronous.allSatisfy { j in
                        guard servers[j].machineUp, dbs[slot(j, r)].role == .standby(i) else { return false }
                        return dbs[slot(j, r)].log.count > index && dbs[slot(j, r)].log[index] == v
                    }
                    if everyone {
                        report(checker.acknowledge(replica: replicaIDs[r], value: v, server: i, now: now))
                        if let h = healValue, v >= h {
                            checker.livenessAcked.insert(replicaIDs[r])
                            result.ackedAfterHeal += 1
                        }
                    } else {
                        still.append(v)
                    }
                }
                dbs[k].pending = still
                if !still.isEmpty { replicationDirty = true }
            }
        }
    }

    /// One client operation through whichever server says it is the open primary.
    mutating func clientOperation() {
        let r = rng.index(replicaIDs.count)
        let id = replicaIDs[r]
        let open = servers.indices.filter { servers[$0].machineUp && dbs[slot($0, r)].isOpen(at: localNow($0)) }
        guard !open.isEmpty else { return }
        let i = rng.pick(open)
        let k = slot(i, r)
        if rng.chance(0.7) {
            let v = nextValue
            nextValue += 1
            dbs[k].log.append(v)
            dbs[k].pending.append(v)
            replicationDirty = true
        } else {
            result.reads += 1
            report(checker.read(replica: id, server: i, log: dbs[k].log))
        }
        if healed, livenessStart != nil, recovered(id) {
            checker.livenessServed.insert(id)
        }
    }

    mutating func injectFault() {
        replicationDirty = true
        let n = servers.count
        let i = rng.index(n)
        switch rng.index(10) {
        case 0, 1:
            guard processUp(i) else { return }
            trace("FAULT \(servers[i].id) process crash")
            servers[i].core = nil
            servers[i].incarnation += 1
            queue.push(now + rng.int(100...3_000) * 1_000_000, .restart(i))
        case 2:
            guard servers[i].machineUp else { return }
            trace("FAULT \(servers[i].id) machine reboot")
            servers[i].core = nil
            servers[i].machineUp = false
            servers[i].incarnation += 1
            for r in replicaIDs.indices {
                dbs[slot(i, r)].openUntil = nil
                dbs[slot(i, r)].pending = []
                checker.closed(replica: replicaIDs[r], server: i, at: now)
            }
            queue.push(now + rng.int(500...4_000) * 1_000_000, .restart(i))
        case 3, 4:
            trace("FAULT \(servers[i].id) isolated")
            for j in 0..<n where j != i { block(i, j); block(j, i) }
            let back = now + rng.int(500...5_000) * 1_000_000
            for j in 0..<n where j != i { queue.push(back, .heal(.link(i, j))); queue.push(back, .heal(.link(j, i))) }
        case 5:
            let j = (i + 1 + rng.index(n - 1)) % n
            trace("FAULT link \(servers[i].id) → \(servers[j].id) cut (asymmetric)")
            block(i, j)
            queue.push(now + rng.int(500...5_000) * 1_000_000, .heal(.link(i, j)))
        case 6:
            var side: [Int] = []
            for j in 0..<n where rng.chance(0.5) { side.append(j) }
            trace("FAULT partition \(side.map { servers[$0].id.rawValue })")
            let back = now + rng.int(500...5_000) * 1_000_000
            for a in side { for b in 0..<n where !side.contains(b) {
                block(a, b); block(b, a)
                queue.push(back, .heal(.link(a, b))); queue.push(back, .heal(.link(b, a)))
            } }
        case 7:
            lossRate = Double(rng.int(0...30)) / 100
            duplicateRate = Double(rng.int(0...20)) / 100
            trace("FAULT loss \(lossRate) duplication \(duplicateRate)")
            queue.push(now + rng.int(1_000...5_000) * 1_000_000, .heal(.loss))
        case 8:
            maxDelayMs = rng.int(1...80)
            trace("FAULT max delay \(maxDelayMs)ms")
        default:
            guard processUp(i), let id = replicaIDs.first(where: { servers[i].core!.isServing($0) }) else { return }
            trace("COMMAND switchover \(id) at \(servers[i].id)")
            feed(i, .command(.switchover(id, to: nil), now: localNow(i)))
        }
    }

    mutating func restart(_ i: Int) {
        replicationDirty = true
        guard !processUp(i) else { return }
        if !servers[i].machineUp {
            servers[i].machineUp = true
            servers[i].boot += 1
            // A new boot: the monotonic clock starts over somewhere else.
            servers[i].clock = Clock(bootReal: now, offset: rng.int(0...1_000_000_000), ppm: servers[i].clock.ppm)
        }
        let records = servers[i].store.keys.sorted().map { servers[i].store[$0]! }
        servers[i].core = makeCore(i, restoring: records)
        for r in replicaIDs.indices { lastReport[slot(i, r)] = nil }
        servers[i].incarnation += 1
        trace("RESTART \(servers[i].id) boot \(servers[i].boot)")
        // A new process has a new failure detector: none of the old one's suspicions.
        for j in servers.indices { servers[i].suspectedUntil[j] = 0 }
        feed(i, .membership(servers[i].view(at: now), now: localNow(i)))
        queue.push(now + 1, .tick(i, incarnation: servers[i].incarnation))
    }

    mutating func heal(_ kind: HealKind) {
        replicationDirty = true
        switch kind {
        case .link(let a, let b):
            if !healed { unblock(a, b) }
        case .loss:
            lossRate = 0; duplicateRate = 0
        case .all:
            healed = true
            livenessStart = now
            healValue = nextValue
            trace("HEAL everything; liveness phase")
            blocked = Array(repeating: false, count: servers.count * servers.count)
            blockedCount = 0
            lossRate = 0; duplicateRate = 0; maxDelayMs = min(maxDelayMs, 10)
            for i in servers.indices where !processUp(i) { queue.push(now + 1, .restart(i)) }
        }
    }
}
