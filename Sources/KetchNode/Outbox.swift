import Dispatch
import Foundation
import KetchShared
import KetchStore

/// Carries out the core's outputs off the node's actor: each step's records are made durable,
/// then its messages and database actions leave, in step order.
///
/// Why not on the actor: an fsync of `ketch.db` takes 100–400 ms while eight Postgres copies
/// promote and checkpoint on the same disk, and the node persists several times per database
/// in a failover. Done on the actor, those waits added up to more than a second in which the
/// node answered no probe, so its peers declared it dead and started yet another epoch for
/// every database it had just opened (issue 22: 16 suspicions per node, up to 25 s to write).
/// Here the actor goes on answering probes and computing leases while the disk works, and
/// every batch that came in during one fsync is written together with the next (group
/// commit), so the wait no longer grows with the number of databases.
///
/// What the core requires still holds: nothing of a step leaves before that step's records,
/// and every earlier step's, are on disk (one FIFO, one writer); a failed write drops it and
/// everything after it (the node then stops, see `Node.stopForPersistFailure`).
final class Outbox: @unchecked Sendable {
    typealias Action = @Sendable () -> Void

    private struct Item {
        var batch: [StoreWrite]
        var sync: Bool
        var then: Action
        /// A `flushed()` waiter: resumed even when the queue is dropped.
        var isBarrier = false
    }

    private let store: KetchStore
    private let queue = DispatchQueue(label: "ketch.outbox")
    private let lock = NSLock()
    private var pending: [Item] = []
    private var draining = false
    private var closed = false
    private var failedWrite = false
    private var failed: @Sendable (Error) -> Void = { _ in }
    private var slow: @Sendable (_ records: Int, _ sync: Bool, _ took: Span) -> Void = { _, _, _ in }

    init(store: KetchStore) {
        self.store = store
    }

    /// `failed` is called once, on the outbox's thread, when a write fails; `slow` for a write
    /// that took `slowWrite` or longer. Set before the first `submit`.
    func handle(failed: @escaping @Sendable (Error) -> Void, slow: @escaping @Sendable (_ records: Int, _ sync: Bool, _ took: Span) -> Void) {
        lock.withLock {
            self.failed = failed
            self.slow = slow
        }
    }

    static let slowWrite = Span.milliseconds(100)

    /// Queues one step's records and what must follow them. `sync: false` is for records a
    /// crash may lose (lease renewals, see `CoreOutput.persistNeedsSync`).
    func submit(_ batch: [StoreWrite], sync: Bool, then: @escaping Action) {
        let start: Bool = lock.withLock {
            guard !closed else { return false }
            pending.append(Item(batch: batch, sync: sync, then: then))
            if draining { return false }
            draining = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    /// Returns once everything submitted before is on disk and carried out (or dropped after a
    /// failure): a command's reply ("created database …") then promises nothing a crash takes back.
    func flushed() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let queued: Bool = lock.withLock {
                guard !closed else { return false }
                pending.append(Item(batch: [], sync: false, then: { done.resume() }, isBarrier: true))
                if draining { return true }
                draining = true
                queue.async { self.drain() }
                return true
            }
            if !queued { done.resume() }
        }
    }

    /// A write failed: nothing submitted since was carried out.
    var hasFailed: Bool { lock.withLock { failedWrite } }

    /// Drops whatever is still queued and waits for a write in progress to end; nothing more is
    /// taken. Called before the store is closed.
    func close() {
        let dropped: [Item] = lock.withLock {
            closed = true
            defer { pending = [] }
            return pending
        }
        queue.sync {}
        Self.release(dropped)
    }

    /// The dropped steps' messages and actions never leave; a waiting `flushed()` must not hang.
    private static func release(_ dropped: [Item]) {
        for item in dropped where item.isBarrier { item.then() }
    }

    private func drain() {
        while true {
            let items: [Item] = lock.withLock {
                let taken = closed ? [] : pending
                pending = []
                if taken.isEmpty { draining = false }
                return taken
            }
            guard !items.isEmpty else { return }
            let batch = items.flatMap(\.batch)
            if !batch.isEmpty {
                let sync = items.contains { $0.sync && !$0.batch.isEmpty }
                let started = ContinuousClock.now
                do {
                    try store.write(batch, sync: sync)
                } catch {
                    let dropped: [Item] = lock.withLock {
                        closed = true
                        failedWrite = true
                        draining = false
                        defer { pending = [] }
                        return pending
                    }
                    lock.withLock { failed }(error)
                    Self.release(items + dropped)
                    return
                }
                let took = ContinuousClock.now - started
                let ms = took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000
                if ms >= Self.slowWrite.milliseconds { lock.withLock { slow }(batch.count, sync, .milliseconds(ms)) }
            }
            for item in items { item.then() }
        }
    }
}
