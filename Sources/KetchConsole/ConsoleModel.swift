import KetchShared

/// The whole console: the merged cluster plus everything about the screen (what is selected,
/// which dialog is open). `update` is the only way it changes.
public struct ConsoleModel: Hashable, Sendable {
    public enum Pane: Int, CaseIterable, Hashable, Sendable { case members, databases, events }

    public enum Screen: Hashable, Sendable {
        case overview
        case detail(ReplicaID)
    }

    public enum Overlay: Hashable, Sendable {
        case none
        case help
        case create(CreateForm)
        case failover(FailoverFlow)
        case delete(DeleteFlow)
    }

    public var cluster: ClusterModel
    public var screen: Screen = .overview
    public var overlay: Overlay = .none
    public var focus: Pane = .databases
    public var selection: [Pane: Int] = [:]
    /// Case-insensitive text that rows must contain; empty shows everything.
    public var filter: String = ""
    public var editingFilter = false
    /// A one-line message above the footer, and when it was set (it fades after a few seconds).
    public var status: String?
    public var statusAt: Instant?
    public var nextRequest = 1
    /// Failovers and deletes whose dialog was dismissed: their outcome still goes to the event pane.
    public var background: [Int: String] = [:]
    public var quitting = false

    public init(endpoints: [String], now: ConsoleTime) {
        cluster = ClusterModel(endpoints: endpoints, now: now)
    }

    public var now: ConsoleTime { cluster.now }

    /// Rows of each pane after the filter.
    public var visibleMembers: [MemberView] {
        filter.isEmpty ? cluster.members : cluster.members.filter { matches($0.name) || matches($0.address) }
    }
    public var visibleDatabases: [DatabaseView] {
        filter.isEmpty ? cluster.databases : cluster.databases.filter { matches($0.name) }
    }
    /// Newest first, as the event pane shows them.
    public var visibleEvents: [EventEntry] {
        var events = cluster.events
        if case .detail(let id) = screen { events = events.filter { $0.replica == id || $0.replica == nil } }
        if !filter.isEmpty { events = events.filter { matches($0.text) || matches($0.source) } }
        return events.reversed()
    }

    private func matches(_ s: String) -> Bool { s.lowercased().contains(filter.lowercased()) }

    public func selectedIndex(_ pane: Pane) -> Int {
        let count: Int
        switch pane {
        case .members: count = visibleMembers.count
        case .databases: count = visibleDatabases.count
        case .events: count = visibleEvents.count
        }
        return max(0, min(selection[pane] ?? 0, count - 1))
    }

    /// The database the keys act on: the detail screen's, or the selected row's.
    public var selectedDatabase: DatabaseView? {
        if case .detail(let id) = screen { return cluster.database(id) }
        let dbs = visibleDatabases
        return dbs.isEmpty ? nil : dbs[selectedIndex(.databases)]
    }
}

/// Failing over one database: pick an in-sync target, confirm, then follow progress until the
/// new epoch is open with the chosen primary, or a clear failure.
public struct FailoverFlow: Hashable, Sendable {
    public enum Stage: Hashable, Sendable {
        case pick
        case confirm
        /// Request sent; `progress` collects the node's progress lines.
        case running(request: Int, since: Instant)
        /// The node said yes; waiting to see the new epoch open on the feed.
        case waitingForEpoch(since: Instant)
        case done(String)
        case failed(String)
    }
    public var database: ReplicaID
    public var name: String
    public var fromPrimary: String?
    public var fromEpoch: EpochID?
    /// Member names to choose from; nil at the end lets the node choose.
    public var targets: [String?]
    public var choice: Int = 0
    public var stage: Stage = .pick
    public var progress: [String] = []
    /// How long to wait for the new epoch after the node accepted.
    public static let epochTimeout = Span.seconds(30)

    public var target: String? { targets.isEmpty ? nil : targets[min(choice, targets.count - 1)] }
}

/// Deleting one database (its data is kept on disk): confirm, then the node's answer.
public struct DeleteFlow: Hashable, Sendable {
    public enum Stage: Hashable, Sendable {
        case confirm
        case running(request: Int)
        case done(String)
        case failed(String)
    }
    public var database: ReplicaID
    public var name: String
    public var stage: Stage = .confirm
}
