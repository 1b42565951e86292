import KetchShared

/// What happened on the link to one member's feed, as the transport reports it.
public enum FeedEvent: Hashable, Sendable {
    case connected
    case message(FeedMessage)
    case disconnected(reason: String)
}

/// The console's link to one member: connected, waiting, or silent for too long.
public enum ReporterLink: Hashable, Sendable {
    /// Never heard from since `since`; shown as "connecting" until the silence limit passes.
    case connecting(since: Instant)
    case live
    /// Nothing heard since `since` (the last message, or when we started waiting).
    case unreachable(since: Instant, reason: String?)
}

/// One member's feed folded in sequence order: its own view of the cluster. Deltas that arrive
/// early wait in `pending` until the gap before them fills; a gap that does not fill asks for a
/// fresh snapshot.
public struct ReporterFeed: Hashable, Sendable {
    /// The member as configured (`server1`), which is also how the console addresses it.
    public let endpoint: String
    public internal(set) var status: NodeStatus?
    public internal(set) var sequence: UInt64?
    public internal(set) var pending: [UInt64: FeedMessage] = [:]
    public internal(set) var link: ReporterLink
    public internal(set) var lastHeard: Instant?
    /// When each replica's status last arrived, so a lease's remaining time can be aged locally.
    public internal(set) var replicaReceivedAt: [ReplicaID: Instant] = [:]
    /// When a gap first appeared; a gap older than `gapLimit` forces a resubscribe.
    public internal(set) var gapSince: Instant?
    public internal(set) var lastError: String?

    /// How many early messages we hold before giving up on a gap.
    public static let pendingLimit = 256
    public static let gapLimit = Span.seconds(2)

    public init(endpoint: String, now: Instant) {
        self.endpoint = endpoint
        link = .connecting(since: now)
    }

    /// What folding one message did, so the cluster model knows what to re-merge.
    public struct Effect: Hashable, Sendable {
        public var replaced = false
        public var membersChanged = false
        public var replicas: Set<ReplicaID> = []
        public var events: [ClusterEvent] = []
        public var resubscribe = false
    }

    mutating func heard(at now: Instant) {
        lastHeard = now
        link = .live
    }

    /// Folds one feed message. Duplicates (a sequence already applied) are dropped; a message
    /// beyond the next expected one waits for the gap to fill.
    mutating func receive(_ message: FeedMessage, at now: Instant) -> Effect {
        heard(at: now)
        var effect = Effect()
        if case .snapshot(let seq, let status) = message {
            self.status = status
            sequence = seq
            pending = pending.filter { $0.key > seq }
            gapSince = nil
            // A snapshot naming one replica twice must not crash the console.
            replicaReceivedAt = Dictionary(status.replicas.map { ($0.replica, now) }, uniquingKeysWith: { first, _ in first })
            effect.replaced = true
            effect.membersChanged = true
            effect.events = status.events
        } else {
            guard let applied = sequence else {
                // Nothing to apply a delta to before the snapshot; the transport resubscribes on connect.
                return effect
            }
            let seq = message.sequence
            if seq <= applied { return effect }
            if seq - applied > 1 {
                pending[seq] = message
                if gapSince == nil { gapSince = now }
                if pending.count > Self.pendingLimit { effect.resubscribe = true; resetForResubscribe() }
                return effect
            }
            apply(message, at: now, into: &effect)
        }
        // Sequences come from the wire: at UInt64.max there is no next one (and no overflow).
        while let applied = sequence, applied < .max, let next = pending.removeValue(forKey: applied + 1) {
            apply(next, at: now, into: &effect)
        }
        if pending.isEmpty { gapSince = nil }
        return effect
    }

    /// Called on every tick: a gap that has not filled in time means a delta was lost.
    mutating func checkGap(at now: Instant) -> Bool {
        guard let since = gapSince, now - since >= Self.gapLimit else { return false }
        resetForResubscribe()
        return true
    }

    mutating func resetForResubscribe() {
        pending = [:]
        gapSince = nil
        sequence = nil
    }

    mutating func disconnected(reason: String, at now: Instant) {
        lastError = reason
        sequence = nil
        pending = [:]
        gapSince = nil
        switch link {
        case .live: link = .unreachable(since: lastHeard ?? now, reason: reason)
        case .connecting(let since): link = .connecting(since: since)
        case .unreachable(let since, _): link = .unreachable(since: since, reason: reason)
        }
    }

    /// Marks the member unreachable once it has been silent for `limit`; returns true on the change.
    mutating func checkSilence(at now: Instant, limit: Span) -> Bool {
        switch link {
        case .live:
            if let heard = lastHeard, now - heard >= limit {
                link = .unreachable(since: heard, reason: lastError)
                return true
            }
        case .connecting(let since):
            if now - since >= limit {
                link = .unreachable(since: since, reason: lastError)
                return true
            }
        case .unreachable:
            break
        }
        return false
    }

    private mutating func apply(_ message: FeedMessage, at now: Instant, into effect: inout Effect) {
        sequence = message.sequence
        guard case .delta(_, let change) = message, var status else { return }
        switch change {
        case .member(let m):
            if let i = status.members.firstIndex(where: { $0.server == m.server }) {
                // Nodes republish a member whenever its last-heard age moves; the console does not
                // show that figure, so only a change in anything else needs a re-merge.
                var old = status.members[i]
                old.lastHeardMs = m.lastHeardMs
                if old != m { effect.membersChanged = true }
                status.members[i] = m
            } else {
                status.members.append(m)
                effect.membersChanged = true
            }
        case .memberRemoved(let id):
            status.members.removeAll { $0.server == id }
            effect.membersChanged = true
        case .replica(let r):
            if let i = status.replicas.firstIndex(where: { $0.replica == r.replica }) { status.replicas[i] = r } else { status.replicas.append(r) }
            replicaReceivedAt[r.replica] = now
            effect.replicas.insert(r.replica)
            effect.membersChanged = true
        case .replicaRemoved(let id):
            status.replicas.removeAll { $0.replica == id }
            replicaReceivedAt[id] = nil
            effect.replicas.insert(id)
            effect.membersChanged = true
        case .event(let e):
            status.events.append(e)
            if status.events.count > 64 { status.events.removeFirst(status.events.count - 64) }
            effect.events.append(e)
        }
        self.status = status
    }

    public var isLive: Bool { if case .live = link { true } else { false } }
}
