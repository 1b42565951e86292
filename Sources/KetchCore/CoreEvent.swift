import KetchShared

/// Something that happened, handed to `KetchCore.handle(_:)`.
public enum CoreEvent: Hashable, Sendable {
    /// Time passed. The node ticks periodically (every 100 ms is plenty) and at `wakeAt`.
    case tick(now: Instant)
    case received(from: ServerID, KetchMessage, now: Instant)
    /// The full set of known servers and whether each is healthy (alive) as membership sees it.
    case membership([ServerID: Bool], now: Instant)
    case database(DatabaseReport, now: Instant)
    case command(CoreCommand, now: Instant)

    public var now: Instant {
        switch self {
        case .tick(let n), .received(_, _, let n), .membership(_, let n), .database(_, let n), .command(_, let n): n
        }
    }
}

/// What the node's Postgres (or the simulator's model of it) did.
public enum DatabaseReport: Hashable, Sendable {
    case initialised(ReplicaID)
    case promoted(ReplicaID)
    /// The standby is streaming from `primary` (after a clone, a follow or a rewind).
    case following(ReplicaID, primary: ServerID)
    /// Reported by a primary: these standbys stream synchronously and have everything the primary
    /// has, so every later commit waits for them (the Step 5 condition).
    case replication(ReplicaID, caughtUp: [ServerID])
    case failed(ReplicaID, message: String)
    /// A `fence` was carried out: client service is stopped (sessions ended, new ones refused)
    /// and the watchdog disarmed. Only after this may a planned switchover release the lease.
    case fenced(ReplicaID)
    /// Periodic state for the status feed.
    case status(ReplicaID, PostgresStatus)

    public var replica: ReplicaID {
        switch self {
        case .initialised(let r), .promoted(let r), .following(let r, _), .replication(let r, _), .failed(let r, _), .fenced(let r),
             .status(let r, _): r
        }
    }
}

/// A user's request, validated by the node first.
public enum CoreCommand: Hashable, Sendable {
    /// Create a replica with this server as its first primary; the node chooses the ID.
    case createReplica(ReplicaID, ReplicaSpec)
    /// Forget the replica on every member; Postgres data is kept.
    case deleteReplica(ReplicaID)
    /// Planned switchover to an in-sync member (nil: the core chooses one).
    case switchover(ReplicaID, to: ServerID?)
}

/// One instruction for the node's Postgres of one replica.
public struct DatabaseCommand: Hashable, Sendable, CustomStringConvertible {
    public var replica: ReplicaID
    public var action: DatabaseAction
    public init(replica: ReplicaID, action: DatabaseAction) { self.replica = replica; self.action = action }
    public var description: String { "\(replica.short) \(action)" }
}

public enum DatabaseAction: Hashable, Sendable, CustomStringConvertible {
    /// Create a fresh primary from the spec (initdb, role, database), closed to clients.
    case initialise(ReplicaSpec)
    /// Replace the local copy (set the old one aside) with a base backup of `from`, then stream from it.
    case clone(from: ServerID)
    /// Stream from `primary` as a standby; rewind first if this copy has WAL the primary lacks.
    case follow(primary: ServerID)
    /// Become a primary in place, still closed to clients.
    case promote
    /// Commits wait for exactly these standbys (the other data-quorum members, Step 5).
    case setSynchronousStandbys([ServerID])
    /// Serve clients until `until` on this server's clock; the node's independent watchdog must
    /// stop client service at that instant even if the core is not scheduled again.
    case openToClients(until: Instant)
    /// The lease was renewed: move the watchdog deadline to `until`.
    case extendLease(until: Instant)
    /// Stop serving clients now (terminate sessions, refuse new ones), disarm the watchdog, then
    /// report `DatabaseReport.fenced`.
    case fence
    /// Stop Postgres for this replica; data is kept.
    case stop

    public var description: String {
        switch self {
        case .initialise(let s): "initialise \(s.name)"
        case .clone(let f): "clone from \(f.short)"
        case .follow(let p): "follow \(p.short)"
        case .promote: "promote"
        case .setSynchronousStandbys(let s): "synchronous [\(s.map(\.short).joined(separator: ","))]"
        case .openToClients(let u): "open until \(u)"
        case .extendLease(let u): "extend until \(u)"
        case .fence: "fence"
        case .stop: "stop"
        }
    }
}

/// One step's result, to be carried out in this order: `persist` durably, then `send`, then
/// `database`, then schedule a tick at `wakeAt`, and log `notes` at any time.
public struct CoreOutput: Sendable {
    public var persist: [PersistRecord] = []
    public var send: [(to: ServerID, message: KetchMessage)] = []
    public var database: [DatabaseCommand] = []
    /// The latest instant at which the core wants to be ticked (lease end, renewal); nil: whenever.
    public var wakeAt: Instant?
    public var notes: [Note] = []
    /// How many of `persist` are acceptor records changed only in their lease state (a promise
    /// or a grant). A reboot drops those anyway (new boot ID, quiet period), so they need to
    /// survive the process but not a power loss: when nothing else is persisted, the node may
    /// write without waiting for the disk.
    public var leaseOnlyPersists = 0
    /// Whether the persist must reach the disk before the sends (see `leaseOnlyPersists`).
    public var persistNeedsSync: Bool { persist.count > leaseOnlyPersists }
    public init() {}

    public var isEmpty: Bool { persist.isEmpty && send.isEmpty && database.isEmpty && notes.isEmpty }
}

/// A human-readable log sentence about one replica (and epoch).
public struct Note: Hashable, Sendable, CustomStringConvertible {
    public var replica: ReplicaID?
    public var epoch: EpochID?
    public var text: String
    public init(replica: ReplicaID?, epoch: EpochID?, text: String) { self.replica = replica; self.epoch = epoch; self.text = text }
    public var description: String {
        var s = ""
        if let r = replica { s += "[\(r.short)" + (epoch.map { " \($0.short)" } ?? "") + "] " }
        return s + text
    }
}
