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

/// Hand-written so each change sits directly under its case name (`{"member":{...}}`) instead
/// of under Swift's synthesized `"_0"` key.
extension FeedDelta {
    private enum CodingKeys: String, CodingKey, CaseIterable {
        case member, memberRemoved, replica, replicaRemoved, event
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription:
                "expected exactly one of \(CodingKeys.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        switch key {
        case .member: self = .member(try c.decode(MemberStatus.self, forKey: key))
        case .memberRemoved: self = .memberRemoved(try c.decode(ServerID.self, forKey: key))
        case .replica: self = .replica(try c.decode(ReplicaStatus.self, forKey: key))
        case .replicaRemoved: self = .replicaRemoved(try c.decode(ReplicaID.self, forKey: key))
        case .event: self = .event(try c.decode(ClusterEvent.self, forKey: key))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .member(let m): try c.encode(m, forKey: .member)
        case .memberRemoved(let id): try c.encode(id, forKey: .memberRemoved)
        case .replica(let r): try c.encode(r, forKey: .replica)
        case .replicaRemoved(let id): try c.encode(id, forKey: .replicaRemoved)
        case .event(let e): try c.encode(e, forKey: .event)
        }
    }
}
