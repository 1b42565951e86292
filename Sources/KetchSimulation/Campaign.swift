import Foundation
import KetchCore

/// Runs many seeds; stops at the first failure when asked to.
public struct Campaign {
    public struct Summary: Sendable {
        public var seeds = 0
        public var failures: [SimResult] = []
        public var coreSteps = 0
        public var simulatedNs: Int64 = 0
        public var ackedWrites = 0
        /// Longest time from healing to full recovery over the passing seeds.
        public var maxRecoveryMs: Int64 = 0
    }

    /// Runs seeds `first..<first+count`. With `jobs` > 1 the seeds run on that many threads
    /// (each run is deterministic and independent), and the results are still handed to
    /// `progress` and summed in seed order, so the output equals a one-job run's; when stopping
    /// at the first failure, the seeds after the lowest failing one are not counted.
    public static func run(from first: UInt64, count: Int, mutation: Mutation = .none, stopAtFirstFailure: Bool = false, jobs: Int = 1,
                           configure: (inout SimConfig) -> Void = { _ in }, progress: (SimResult) -> Void = { _ in }) -> Summary {
        var summary = Summary()
        // `configure` sees a config that differs only in the seed, which is set afterwards.
        var template = SimConfig(seed: first, mutation: mutation)
        configure(&template)
        let end = first + UInt64(count)
        func add(_ result: SimResult) -> Bool {
            summary.seeds += 1
            summary.coreSteps += result.coreSteps
            summary.simulatedNs += result.simulatedNs
            summary.ackedWrites += result.ackedWrites
            if result.passed { summary.maxRecoveryMs = max(summary.maxRecoveryMs, result.recoveryMs ?? 0) }
            progress(result)
            if !result.passed {
                summary.failures.append(result)
                if stopAtFirstFailure { return false }
            }
            return true
        }
        if jobs <= 1 {
            for seed in first..<end {
                var config = template
                config.seed = seed
                var sim = Simulation(config: config)
                if !add(sim.run()) { break }
            }
            return summary
        }
        let work = ParallelSeeds(next: first, end: end, workers: jobs)
        let shared = template
        let stop = stopAtFirstFailure
        for _ in 0..<jobs {
            let thread = Thread { work.runWorker(template: shared, stopAtFirstFailure: stop) }
            thread.stackSize = 16 << 20
            thread.start()
        }
        // Results are consumed on this thread in seed order as they arrive.
        var seed = first
        while seed < end, let result = work.take(seed) {
            seed += 1
            if !add(result) { break }
        }
        work.waitForWorkers()
        return summary
    }
}

/// Shared state of a multi-threaded campaign: the next seed to hand out and the finished runs
/// not yet consumed. Every access holds `lock`.
final class ParallelSeeds: @unchecked Sendable {
    private let lock = NSCondition()
    private var next: UInt64
    private let end: UInt64
    private var running: Int
    private var done: [UInt64: SimResult] = [:]
    /// The lowest failing seed when stopping at the first failure: no seed above it is started.
    private var stopAfter: UInt64?

    init(next: UInt64, end: UInt64, workers: Int) {
        self.next = next
        self.end = end
        self.running = workers
    }

    func runWorker(template: SimConfig, stopAtFirstFailure: Bool) {
        while true {
            lock.lock()
            guard next < end, stopAfter.map({ next < $0 }) ?? true else {
                running -= 1
                lock.broadcast()
                lock.unlock()
                return
            }
            let seed = next
            next += 1
            lock.unlock()
            var config = template
            config.seed = seed
            var sim = Simulation(config: config)
            let result = sim.run()
            lock.lock()
            done[seed] = result
            if stopAtFirstFailure && !result.passed { stopAfter = min(stopAfter ?? seed, seed) }
            lock.broadcast()
            lock.unlock()
        }
    }

    /// Waits for `seed`'s result; nil if no worker will produce it (stopped at a lower failure).
    func take(_ seed: UInt64) -> SimResult? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let r = done.removeValue(forKey: seed) { return r }
            if running == 0 { return nil }
            lock.wait()
        }
    }

    func waitForWorkers() {
        lock.lock()
        while running > 0 { lock.wait() }
        lock.unlock()
    }
}
