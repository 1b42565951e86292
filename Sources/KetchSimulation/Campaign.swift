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

    public static func run(from first: UInt64, count: Int, mutation: Mutation = .none, stopAtFirstFailure: Bool = false,
                           configure: (inout SimConfig) -> Void = { _ in }, progress: (SimResult) -> Void = { _ in }) -> Summary {
        var summary = Summary()
        for seed in first..<(first + UInt64(count)) {
            var config = SimConfig(seed: seed, mutation: mutation)
            configure(&config)
            var sim = Simulation(config: config)
            let result = sim.run()
            summary.seeds += 1
            summary.coreSteps += result.coreSteps
            summary.simulatedNs += result.simulatedNs
            summary.ackedWrites += result.ackedWrites
            if result.passed { summary.maxRecoveryMs = max(summary.maxRecoveryMs, result.recoveryMs ?? 0) }
            progress(result)
            if !result.passed {
                summary.failures.append(result)
                if stopAtFirstFailure { break }
            }
        }
        return summary
    }
}
