import Foundation

/// A first-come-first-served lock for async code that awaits while holding it.
///
/// An actor alone does not keep two of its methods apart: at every `await` another call can run.
/// The replica executor needs open, close, fence and lease extension not to interleave (a close
/// resuming after an open would write the lease guard `closed` while Postgres serves), so each
/// of those holds this lock for its whole run. Not reentrant: a holder must not ask for it again.
public final class AsyncMutex: @unchecked Sendable {
    private let lock = NSLock()
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init() {}

    /// Waits until the lock is free, then holds it; waiters get it in the order they asked.
    public func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let granted: Bool = lock.withLock {
                if held { waiters.append(c); return false }
                held = true
                return true
            }
            if granted { c.resume() }
        }
    }

    /// Hands the lock to the next waiter (it stays held) or frees it.
    public func release() {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            if waiters.isEmpty { held = false; return nil }
            return waiters.removeFirst()
        }
        next?.resume()
    }

    /// How many wait for the lock now (for tests and diagnostics).
    public var waiterCount: Int { lock.withLock { waiters.count } }

    /// Runs `body` holding the lock.
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}
