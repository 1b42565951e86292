import Dispatch
import Foundation
import KetchShared
import KetchStore

/// The replicas one batch of outputs concerns; `nil` stands for all of them (the server's
/// counters and boot record, which every later message may rest on).
struct Lanes: Sendable {
    var replicas: Set<ReplicaID>?
    static let all = Lanes(replicas: nil)

    func overlaps(_ other: Lanes) -> Bool {
        guard let mine = replicas, let theirs = other.replicas else { return true }
        return !mine.isDisjoint(with: theirs)
    }
}

/// Carries out the core's outputs off the node's actor: records are written first, and only
/// then do the messages and database actions that rest on them leave.
///
/// Why not on the actor: an fsync of `ketch.db` takes 100-400 ms while eight Postgres copies
/// promote and checkpoint on the same disk, and the node persists several times per database
/// in a failover. Done on the actor, those waits added up to more than a second in which the
/// node answered no probe, so its peers declared it dead and started yet another epoch for
/// every database it had just opened (issue 22).
///
/// Why lanes and a second thread: a lease round is four such writes (a promise and a grant at
/// each end), and behind other databases' fsyncs a renewal took up to a second, so a primary
/// that had just opened lost its lease. Records of one replica never carry what another
/// replica's messages rest on, so a batch that must only survive the process (lease promises
/// and grants, `CoreOutput.persistNeedsSync` false) is written and carried out at once unless
/// an earlier batch of the same replica still waits for the disk; the fsync runs on a thread of
/// its own, outside the store's lock, while writes go on.
///
/// What the core requires still holds: nothing leaves before its records are written, and
/// durably when they must be; within a replica (and for the server-wide records, across all)
/// outputs leave in step order; a failed write or sync drops everything not yet carried out
/// (the node then stops, see `Node.stopForPersistFailure`).
final class Outbox: @unchecked Sendable {
    typealias Action = @Sendable () -> Void

    private struct Item {
        var batch: [StoreWrite]
        /// Its records must be on disk, not only written, before `then`.
        var durable: Bool
        var lanes: Lanes
        var then: Action
        /// A `flushed()` waiter: resumed even when the queue is dropped.
        var isBarrier = false
        /// The write that wrote it (see `syncLoop`).
        var generation: UInt64 = 0
    }

    private let store: KetchStore
    private let writeQueue = DispatchQueue(label: "ketch.outbox.write")
    private let syncQueue = DispatchQueue(label: "ketch.outbox.sync")
    private let lock = NSLock()
    /// Submitted, not written yet.
    private var pending: [Item] = []
    /// Written, waiting for an fsync, or for an earlier waiting item of one of its lanes.
    private var waiting: [Item] = []
    private var writing = false
    private var syncing = false
    private var generation: UInt64 = 0
    private var closed = false
    private var failedWrite = false
    private var fsyncs: (count: Int, seconds: Double) = (0, 0)
    private var failed: @Sendable (Error) -> Void = { _ in }
    private var slow: @Sendable (_ took: Span) -> Void = { _ in }

    static let slowSync = Span.milliseconds(100)

    init(store: KetchStore) {
        self.store = store
    }

    /// `failed` is called once, on an outbox thread, when a write or sync fails; `slow` for an
    /// fsync that took `slowSync` or longer. Set before the first `submit`.
    func handle(failed: @escaping @Sendable (Error) -> Void, slow: @escaping @Sendable (_ took: Span) -> Void) {
        lock.withLock {
            self.failed = failed
            self.slow = slow
        }
    }

    /// Queues one batch of records and what must follow them. `durable: false` is for records
    /// a power loss may take (lease promises and grants, see `CoreOutput.persistNeedsSync`).
    func submit(_ batch: [StoreWrite], durable: Bool, lanes: Lanes, then: @escaping Action) {
        enqueue(Item(batch: batch, durable: durable && !batch.isEmpty, lanes: lanes, then: then))
    }

    /// Returns once everything submitted before is on disk and carried out (or dropped after a
    /// failure): a command's reply ("created database …") then promises nothing a crash takes back.
    func flushed() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            if !enqueue(Item(batch: [], durable: false, lanes: .all, then: { done.resume() }, isBarrier: true)) { done.resume() }
        }
    }

    /// How many fsyncs of `ketch.db` ran and how long they took in all (for `/metrics`).
    var fsyncTotals: (count: Int, seconds: Double) { lock.withLock { fsyncs } }

    /// A write or sync failed: nothing submitted since was carried out.
    var hasFailed: Bool { lock.withLock { failedWrite } }

    /// Drops whatever is still queued and waits for a write or sync in progress to end; nothing
    /// more is taken. Called before the store is closed.
    func close() {
        let dropped: [Item] = lock.withLock {
            closed = true
            defer { pending = []; waiting = [] }
            return pending + waiting
        }
        writeQueue.sync {}
        syncQueue.sync {}
        Self.release(dropped)
    }

    @discardableResult
    private func enqueue(_ item: Item) -> Bool {
        let (taken, start): (Bool, Bool) = lock.withLock {
            guard !closed else { return (false, false) }
            pending.append(item)
            if writing { return (true, false) }
            writing = true
            return (true, true)
        }
        if start { writeQueue.async { self.writeLoop() } }
        return taken
    }

    /// The dropped items' messages and actions never leave; a waiting `flushed()` must not hang.
    private static func release(_ dropped: [Item]) {
        for item in dropped where item.isBarrier { item.then() }
    }

    private func fail(_ error: Error) {
        let (dropped, callback): ([Item], @Sendable (Error) -> Void) = lock.withLock {
            closed = true
            failedWrite = true
            writing = false
            syncing = false
            defer { pending = []; waiting = [] }
            return (pending + waiting, failed)
        }
        callback(error)
        Self.release(dropped)
    }

    private func writeLoop() {
        while true {
            let items: [Item] = lock.withLock {
                let taken = closed ? [] : pending
                pending = []
                if taken.isEmpty { writing = false }
                return taken
            }
            guard !items.isEmpty else { return }
            let batch = items.flatMap(\.batch)
            if !batch.isEmpty {
                do { try store.write(batch, sync: false) } catch { fail(error); return }
            }
            let startSync: Bool = lock.withLock {
                guard !closed else { return false }
                generation += 1
                for var item in items {
                    item.generation = generation
                    if item.durable || waiting.contains(where: { $0.lanes.overlaps(item.lanes) }) {
                        waiting.append(item)
                    } else {
                        // Under the lock: a later item of the same lane, carried out by the other
                        // thread, must not overtake this one.
                        item.then()
                    }
                }
                guard !waiting.isEmpty, !syncing else { return false }
                syncing = true
                return true
            }
            if startSync { syncQueue.async { self.syncLoop() } }
        }
    }

    private func syncLoop() {
        while true {
            let upTo: UInt64? = lock.withLock {
                guard !closed, !waiting.isEmpty else { syncing = false; return nil }
                return generation
            }
            guard let upTo else { return }
            let started = ContinuousClock.now
            do { try store.syncWrittenToDisk() } catch { fail(error); return }
            let took = ContinuousClock.now - started
            let ms = took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000
            let report: (@Sendable (Span) -> Void)? = lock.withLock {
                fsyncs.count += 1
                fsyncs.seconds += Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
                guard !closed else { return nil }
                // Everything written before the fsync began is durable now, in order.
                let ready = waiting.prefix { $0.generation <= upTo }.count
                for item in waiting[..<ready] { item.then() }
                waiting.removeFirst(ready)
                return ms >= Self.slowSync.milliseconds ? slow : nil
            }
            report?(.milliseconds(ms))
        }
    }
}
