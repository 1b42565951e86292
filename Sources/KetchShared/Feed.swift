/// One change to a member's `NodeStatus`. Items are keyed, so a delta is an upsert or a removal;
/// new kinds of item are new cases, which old consoles report as unknown and skip.
public enum FeedDelta: Hashable, Codable, Sendable {
    case member(MemberStatus)
    case memberRemoved(ServerID)
    case replica(ReplicaStatus)
    case replicaRemoved(ReplicaID)
    case event(ClusterEvent)
}

/// A message on the status feed. Sequence numbers are per subscription and start at the snapshot;
/// a gap means a lost delta and the console resubscribes.
public enum FeedMessage: Hashable, Codable, Sendable {
    case snapshot(sequence: UInt64, status: NodeStatus)
    case delta(sequence: UInt64, change: FeedDelta)
    /// Sent at least every second even when nothing changed.
    case heartbeat(sequence: UInt64, atUnixMs: Int64)

    public var sequence: UInt64 {
        switch self {
        case .snapshot(let s, _), .delta(let s, _), .heartbeat(let s, _): s
        }
    }
}

extension NodeStatus {
    /// Applies one feed delta: how a console keeps its copy of a member's status current
    /// between snapshots. Upserts keep an item's position; new items go last.
    /// `maxEvents` bounds the event list (oldest dropped), as the node bounds its own.
    public mutating func apply(_ delta: FeedDelta, maxEvents: Int = 1000) {
        switch delta {
        case .member(let m):
            if let i = members.firstIndex(where: { $0.server == m.server }) { members[i] = m } else { members.append(m) }
        case .memberRemoved(let id):
            members.removeAll { $0.server == id }
        case .replica(let r):
            if let i = replicas.firstIndex(where: { $0.replica == r.replica }) { replicas[i] = r } else { replicas.append(r) }
        case .replicaRemoved(let id):
            replicas.removeAll { $0.replica == id }
        case .event(let e):
            events.append(e)
            if events.count > maxEvents { events.removeFirst(events.count - maxEvents) }
        }
    }
}
