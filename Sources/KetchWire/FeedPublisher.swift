import Foundation
import KetchShared

/// Fans one node's status out to every feed subscriber as a snapshot followed by deltas.
///
/// The node calls `publish` whenever its status may have changed (cheap when nothing did);
/// the publisher computes what changed and sends only that. Each subscription numbers its
/// messages 0, 1, 2, ... so a console can detect a lost message and resubscribe.
///
/// Memory stays bounded: each subscriber has a buffer of `bufferLimit` messages, and a
/// subscriber that falls that far behind is ended (its stream finishes) rather than buffered
/// without limit; the client then resubscribes and starts from a fresh snapshot.
public actor FeedPublisher {
    private struct Subscriber {
        var continuation: AsyncStream<FeedMessage>.Continuation
        var nextSequence: UInt64 = 0
        /// False until the snapshot went out (no status had been published yet).
        var started = false
    }

    public let heartbeatPeriod: Duration
    public let bufferLimit: Int
    private let wallClockMs: @Sendable () -> Int64
    private var current: NodeStatus?
    private var subscribers: [UInt64: Subscriber] = [:]
    private var nextSubscriberID: UInt64 = 0
    private var heartbeatTask: Task<Void, Never>?
    private var finished = false

    /// - Parameters:
    ///   - heartbeatPeriod: how often every subscriber gets a heartbeat, changes or not.
    ///   - bufferLimit: messages a subscriber may have unread before it is dropped.
    ///   - wallClockMs: the heartbeat's timestamp source (injectable for tests).
    public init(heartbeatPeriod: Duration = .seconds(1), bufferLimit: Int = 1024,
                wallClockMs: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        precondition(bufferLimit > 1, "bufferLimit must leave room for the snapshot")
        self.heartbeatPeriod = heartbeatPeriod
        self.bufferLimit = bufferLimit
        self.wallClockMs = wallClockMs
    }

    /// The last published status.
    public var status: NodeStatus? { current }

    public var subscriberCount: Int { subscribers.count }

    /// Records `status` and sends every subscriber the difference from the previous one.
    public func publish(_ status: NodeStatus) {
        guard !finished else { return }
        let previous = current
        current = status
        let identityChanged = previous.map { $0.server != status.server || $0.name != status.name } ?? false
        let changes = previous.map { identityChanged ? [] : Self.diff(from: $0, to: status) } ?? []
        for id in subscribers.keys.sorted() {
            guard let subscriber = subscribers[id] else { continue }
            if !subscriber.started || identityChanged {
                send(.snapshot, to: id)
            } else {
                for change in changes { send(.delta(change), to: id) }
            }
        }
    }

    /// A new subscription: a snapshot (as soon as a status is known), then deltas and heartbeats.
    public func subscribe() -> AsyncStream<FeedMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: FeedMessage.self, bufferingPolicy: .bufferingOldest(bufferLimit))
        if finished {
            continuation.finish()
            return stream
        }
        let id = nextSubscriberID
        nextSubscriberID += 1
        subscribers[id] = Subscriber(continuation: continuation)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.remove(id) }
        }
        if current != nil { send(.snapshot, to: id) }
        startHeartbeats()
        return stream
    }

    /// Ends every subscription (node shutting down); later subscriptions end at once.
    public func finish() {
        finished = true
        heartbeatTask?.cancel()
        heartbeatTask = nil
        let all = subscribers.values
        subscribers.removeAll()
        for s in all { s.continuation.finish() }
    }

    private enum Outgoing {
        case snapshot
        case delta(FeedDelta)
        case heartbeat(Int64)
    }

    private func send(_ outgoing: Outgoing, to id: UInt64) {
        guard var subscriber = subscribers[id] else { return }
        let sequence = subscriber.nextSequence
        let message: FeedMessage
        switch outgoing {
        case .snapshot:
            guard let current else { return }
            message = .snapshot(sequence: sequence, status: current)
            subscriber.started = true
        case .delta(let change):
            message = .delta(sequence: sequence, change: change)
        case .heartbeat(let ms):
            message = .heartbeat(sequence: sequence, atUnixMs: ms)
        }
        subscriber.nextSequence += 1
        switch subscriber.continuation.yield(message) {
        case .enqueued:
            subscribers[id] = subscriber
        case .dropped, .terminated:
            // Too slow (or gone): end the subscription; a later message would leave a gap.
            subscribers[id] = nil
            subscriber.continuation.finish()
        @unknown default:
            subscribers[id] = nil
            subscriber.continuation.finish()
        }
    }

    private func remove(_ id: UInt64) {
        subscribers[id] = nil
    }

    private func startHeartbeats() {
        guard heartbeatTask == nil else { return }
        let period = heartbeatPeriod
        heartbeatTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                guard let self, await self.heartbeat() else { return }
            }
        }
    }

    /// Sends one heartbeat to every started subscriber; false when there is nothing left to do.
    private func heartbeat() -> Bool {
        if finished { return false }
        let ms = wallClockMs()
        for id in subscribers.keys.sorted() where subscribers[id]?.started == true {
            send(.heartbeat(ms), to: id)
        }
        return true
    }

    /// What changed between two statuses of the same node, as keyed upserts and removals:
    /// removed members, changed or new members, removed replicas, changed or new replicas,
    /// then new events (in that order, each group in the new status's order).
    public static func diff(from old: NodeStatus, to new: NodeStatus) -> [FeedDelta] {
        var changes: [FeedDelta] = []
        let newMembers = Set(new.members.map(\.server))
        for m in old.members where !newMembers.contains(m.server) { changes.append(.memberRemoved(m.server)) }
        let oldMembers = Dictionary(old.members.map { ($0.server, $0) }, uniquingKeysWith: { _, b in b })
        for m in new.members where oldMembers[m.server] != m { changes.append(.member(m)) }

        let newReplicas = Set(new.replicas.map(\.replica))
        for r in old.replicas where !newReplicas.contains(r.replica) { changes.append(.replicaRemoved(r.replica)) }
        let oldReplicas = Dictionary(old.replicas.map { ($0.replica, $0) }, uniquingKeysWith: { _, b in b })
        for r in new.replicas where oldReplicas[r.replica] != r { changes.append(.replica(r)) }

        for e in newEvents(old: old.events, new: new.events) { changes.append(.event(e)) }
        return changes
    }

    /// Events in `new` after the last one `old` ended with. Event lists are bounded logs that
    /// only grow at the end, so the old list's last event marks where the new ones start.
    static func newEvents(old: [ClusterEvent], new: [ClusterEvent]) -> ArraySlice<ClusterEvent> {
        guard let last = old.last else { return new[...] }
        if let index = new.lastIndex(of: last) { return new[(index + 1)...] }
        return new[...]
    }
}
