import Foundation
import KetchPostgres
import Testing

/// The lock that keeps the replica executor's open, close, fence and lease extension apart
/// (reliability finding 3: a fence's close resumed after the next epoch's open and wrote the
/// lease guard `closed` while Postgres served).
@Suite struct AsyncMutexTests {
    actor Trace {
        var events: [String] = []
        func note(_ e: String) { events.append(e) }
    }

    /// Many holders, each awaiting several times while holding the lock: their runs never overlap.
    @Test func holdersThatAwaitNeverInterleave() async {
        let mutex = AsyncMutex()
        let trace = Trace()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    await mutex.run {
                        await trace.note("start \(i)")
                        for _ in 0..<5 { await Task.yield() }
                        await trace.note("end \(i)")
                    }
                }
            }
        }
        let events = await trace.events
        #expect(events.count == 40)
        for pair in stride(from: 0, to: events.count, by: 2) {
            let start = events[pair], end = events[pair + 1]
            #expect(start.hasPrefix("start ") && end == "end " + start.dropFirst("start ".count), "interleaved: \(events)")
        }
    }

    /// A waiter gets the lock only after the holder released it, and waiters go in the order they came.
    @Test func waitersGoInArrivalOrderAfterTheHolderReleases() async {
        let mutex = AsyncMutex()
        let trace = Trace()
        await mutex.acquire()
        var waiters: [Task<Void, Never>] = []
        for i in 0..<3 {
            waiters.append(Task { await mutex.run { await trace.note("waiter \(i)") } })
            // Let each waiter queue before the next one is made, so arrival order is known.
            var queued = false
            for _ in 0..<1000 where !queued {
                await Task.yield()
                queued = mutex.waiterCount == i + 1
            }
            #expect(queued, "waiter \(i) never queued")
        }
        #expect(await trace.events.isEmpty, "a waiter ran while the lock was held")
        mutex.release()
        for w in waiters { await w.value }
        #expect(await trace.events == ["waiter 0", "waiter 1", "waiter 2"])
    }
}
