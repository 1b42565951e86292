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
