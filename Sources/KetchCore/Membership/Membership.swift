import KetchShared

/// SWIM-style membership (Das, Gupta, Motivala 2002) as a deterministic state machine.
///
/// Each protocol period this server probes one member (round-robin over a shuffled order), asks
/// `indirectProbeCount` others to probe it when the direct ack is late, and marks it suspect when
/// the period ends unanswered. A suspect that does not refute within `suspicionTimeout` becomes
/// dead. Every message piggybacks membership records; a record with a higher incarnation wins, and
/// at equal incarnation the worse verdict wins. A member that hears itself suspected or dead
/// refutes by raising its incarnation, which is also how a restarted or resumed member rejoins.
///
/// Members are found through `seeds` (the configured member list): a seed endpoint not yet known
/// as a live member is pinged every period, so a cluster assembles itself in any start order.
public struct Membership: Sendable {
    public private(set) var config: MembershipConfig
    public private(set) var me: MemberUpdate
    public private(set) var members: [ServerID: Member] = [:]
    private let seeds: [Endpoint]

    private var rng: SplitMix64
    private var nextSequence: UInt64 = 1
    private var probeOrder: [ServerID] = []
    private var probeIndex = 0
    private var nextPeriodAt: Instant?
    private var probe: Probe?
    /// Indirect probes this server runs for others: our ping sequence → who asked, and their sequence.
    private var relays: [UInt64: Relay] = [:]
    /// Fresh records to spread first, with how many more times to send each.
    private var gossip: [ServerID: Int] = [:]

    public struct Member: Sendable, Equatable {
        public var record: MemberUpdate
        public var lastHeard: Instant?
        public var suspectedAt: Instant?
    }

    private struct Probe: Sendable {
        var target: ServerID
        var sequence: UInt64
        var sentAt: Instant
        var indirectSent = false
        var acked = false
    }

    private struct Relay: Sendable {
        var requester: Endpoint
        var requesterSequence: UInt64
        var target: ServerID
        var startedAt: Instant
    }

    /// - Parameters:
    ///   - me: this server's own record; its incarnation must exceed any it used before (the
    ///     driver keeps a persisted counter), so a restart is a rejoin rather than a stale echo.
    ///   - seeds: member endpoints from the configured member list (this server's may be included).
    ///   - seed: randomness for the probe order and indirect-probe choice.
    public init(me: MemberUpdate, seeds: [Endpoint], config: MembershipConfig = .init(), seed: UInt64) {
        var me = me
        me.health = .alive
        self.me = me
        self.config = config
        self.seeds = Array(Set(seeds.filter { $0 != me.endpoint })).sorted()
        self.rng = SplitMix64(seed: seed)
    }

    /// Members other than this server, sorted by ID.
    public var others: [Member] { members.keys.sorted().compactMap { members[$0] } }

    public func health(of server: ServerID) -> MemberHealth? {
        server == me.server ? .alive : members[server]?.record.health
    }

    /// Servers this one currently considers alive, itself included, sorted.
    public var aliveServers: [ServerID] {
        ([me.server] + members.values.filter { $0.record.health == .alive }.map(\.record.server)).sorted()
    }

    // MARK: Events

    public mutating func tick(now: Instant) -> MembershipOutput {
        var out = MembershipOutput()
        expireSuspicions(now: now, into: &out)
        expireRelays(now: now)

        if var p = probe, !p.acked, !p.indirectSent, now >= p.sentAt + config.probeTimeout {
            p.indirectSent = true
            probe = p
            let helpers = pickHelpers(excluding: p.target)
            if let target = members[p.target] {
                let request = MembershipMessage.pingRequest(sequence: p.sequence, target: target.record.server, updates: piggyback(for: nil))
                for h in helpers { out.sends.append((h, request)) }
            }
        }

        guard now >= (nextPeriodAt ?? now) else { return out }
        nextPeriodAt = now + config.probeInterval
        if let p = probe, !p.acked { suspect(p.target, now: now, into: &out) }
        probe = nil

        if let target = nextProbeTarget(), let member = members[target] {
            let seq = takeSequence()
            probe = Probe(target: target, sequence: seq, sentAt: now)
            out.sends.append((member.record.endpoint, .ping(sequence: seq, updates: piggyback(for: target))))
        }
        // Join and rejoin: reach every configured endpoint that is not a live member we know.
        let liveEndpoints = Set(members.values.filter { $0.record.health != .dead }.map(\.record.endpoint))
        for endpoint in seeds where !liveEndpoints.contains(endpoint) {
            out.sends.append((endpoint, .ping(sequence: takeSequence(), updates: piggyback(for: nil))))
        }
        return out
    }

    public mutating func received(_ message: MembershipMessage, now: Instant) -> MembershipOutput {
        var out = MembershipOutput()
        switch message {
        case let .ping(seq, updates):
            guard let sender = apply(updates, now: now, into: &out) else { return out }
            out.sends.append((sender.endpoint, .ack(sequence: seq, updates: piggyback(for: sender.server))))
        case let .pingRequest(seq, target, updates):
            guard let sender = apply(updates, now: now, into: &out) else { return out }
            guard let t = members[target], target != me.server else {
                if target == me.server {
                    out.sends.append((sender.endpoint, .indirectAck(sequence: seq, target: me.server, updates: piggyback(for: sender.server))))
                }
                return out
            }
            let ours = takeSequence()
            relays[ours] = Relay(requester: sender.endpoint, requesterSequence: seq, target: target, startedAt: now)
            out.sends.append((t.record.endpoint, .ping(sequence: ours, updates: piggyback(for: target))))
        case let .ack(seq, updates):
            guard let sender = apply(updates, now: now, into: &out) else { return out }
            if var p = probe, p.sequence == seq, p.target == sender.server { p.acked = true; probe = p }
            if let relay = relays.removeValue(forKey: seq), relay.target == sender.server {
                out.sends.append((relay.requester, .indirectAck(sequence: relay.requesterSequence, target: relay.target, updates: piggyback(for: nil))))
            }
        case let .indirectAck(seq, target, updates):
            _ = apply(updates, now: now, into: &out)
            if var p = probe, p.sequence == seq, p.target == target {
                p.acked = true
                probe = p
                members[target]?.lastHeard = now
            }
        }
        return out
    }

    // MARK: Rules

    /// Applies piggybacked records; the first is the sender's own. Returns the sender's record.
    private mutating func apply(_ updates: [MemberUpdate], now: Instant, into out: inout MembershipOutput) -> MemberUpdate? {
        guard let sender = updates.first, sender.server != me.server else { return nil }
        for u in updates { merge(u, now: now, into: &out) }
        members[sender.server]?.lastHeard = now
        return members[sender.server]?.record ?? sender
    }

    private mutating func merge(_ u: MemberUpdate, now: Instant, into out: inout MembershipOutput) {
        if u.server == me.server {
            // Someone thinks we are suspect or dead: refute with a higher incarnation (SWIM §4.2).
            if u.health != .alive && u.incarnation >= me.incarnation {
                me.incarnation = u.incarnation + 1
                spread(me.server)
            }
            return
        }
        guard let known = members[u.server] else {
            members[u.server] = Member(record: u, lastHeard: nil, suspectedAt: u.health == .suspect ? now : nil)
            out.changes.append(MemberChange(server: u.server, name: u.name, from: nil, to: u.health, incarnation: u.incarnation))
            spread(u.server)
            return
        }
        let k = known.record
        let newer = u.incarnation > k.incarnation
        let accept: Bool
        switch u.health {
        case .alive: accept = newer
        case .suspect: accept = newer || (u.incarnation == k.incarnation && k.health == .alive)
        case .dead: accept = newer || (u.incarnation == k.incarnation && k.health != .dead)
        }
        guard accept else {
            if u.name != k.name || u.endpoint != k.endpoint || u.apiEndpoint != k.apiEndpoint, newer || u.incarnation == k.incarnation {
                members[u.server]?.record.name = u.name
                members[u.server]?.record.endpoint = u.endpoint
                members[u.server]?.record.apiEndpoint = u.apiEndpoint
            }
            return
        }
        var m = known
        m.record = u
        if u.health == .suspect { m.suspectedAt = (k.health == .suspect ? known.suspectedAt : nil) ?? now } else { m.suspectedAt = nil }
        members[u.server] = m
        spread(u.server)
        if k.health != u.health {
            out.changes.append(MemberChange(server: u.server, name: u.name, from: k.health, to: u.health, incarnation: u.incarnation))
        }
    }

    private mutating func suspect(_ server: ServerID, now: Instant, into out: inout MembershipOutput) {
        guard var m = members[server], m.record.health == .alive else { return }
        m.record.health = .suspect
        m.suspectedAt = now
        members[server] = m
        spread(server)
        out.changes.append(MemberChange(server: server, name: m.record.name, from: .alive, to: .suspect, incarnation: m.record.incarnation))
    }

    private mutating func expireSuspicions(now: Instant, into out: inout MembershipOutput) {
        for id in members.keys.sorted() {
            guard var m = members[id], m.record.health == .suspect, let since = m.suspectedAt,
                  now >= since + config.suspicionTimeout else { continue }
            m.record.health = .dead
            m.suspectedAt = nil
            members[id] = m
            spread(id)
            if probe?.target == id { probe = nil }
            out.changes.append(MemberChange(server: id, name: m.record.name, from: .suspect, to: .dead, incarnation: m.record.incarnation))
        }
    }

    private mutating func expireRelays(now: Instant) {
        let limit = config.probeInterval * 2
        for seq in relays.keys.sorted() where now >= relays[seq]!.startedAt + limit { relays[seq] = nil }
    }

    private mutating func nextProbeTarget() -> ServerID? {
        let candidates = members.keys.sorted().filter { members[$0]!.record.health != .dead }
        guard !candidates.isEmpty else { return nil }
        if probeIndex >= probeOrder.count || Set(probeOrder) != Set(candidates) {
            probeOrder = candidates
            rng.shuffle(&probeOrder)
            probeIndex = 0
        }
        defer { probeIndex += 1 }
        return probeOrder[probeIndex]
    }

    private mutating func pickHelpers(excluding target: ServerID) -> [Endpoint] {
        var pool = members.keys.sorted().filter { $0 != target && members[$0]!.record.health == .alive }
        rng.shuffle(&pool)
        return pool.prefix(config.indirectProbeCount).map { members[$0]!.record.endpoint }
    }

    private mutating func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    /// Fresh records are sent a few times each, beyond the full-table anti-entropy below, so a
    /// change reaches everyone within a round or two even when the table is larger than a message.
    private mutating func spread(_ server: ServerID) {
        let n = members.count + 1
        var rounds = 3
        var m = n
        while m > 1 { rounds += 1; m /= 2 }
        gossip[server] = rounds
    }

    /// Records for one outgoing message: ours first, then the receiver's (so it can refute a
    /// suspicion at once), then fresh changes, then the rest of the table.
    private mutating func piggyback(for receiver: ServerID?) -> [MemberUpdate] {
        var out = [me]
        var included: Set<ServerID> = [me.server]
        func add(_ id: ServerID) {
            guard out.count < max(config.maxPiggyback, 1), !included.contains(id), let m = members[id] else { return }
            out.append(m.record)
            included.insert(id)
        }
        if let r = receiver, let m = members[r], m.record.health != .alive { add(r) }
        for id in gossip.keys.sorted() {
            if id == me.server { gossip[id] = nil; continue }
            add(id)
            gossip[id]! -= 1
            if gossip[id]! <= 0 { gossip[id] = nil }
        }
        for id in members.keys.sorted() { add(id) }
        return out
    }
}
