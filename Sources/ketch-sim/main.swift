import ArgumentParser
import KetchCore
import KetchSimulation

struct KetchSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ketch-sim",
        abstract: "Deterministic simulation of the Ketch protocol: seeds, faults, invariants.")

    @Option(help: "Replay one seed.") var seed: UInt64?
    @Option(help: "Run this many seeds.") var seeds: Int?
    @Option(help: "First seed of a campaign.") var from: UInt64 = 1
    @Flag(help: "Print the event trace of the replayed seed.") var trace = false
    @Option(help: "Break one rule on purpose: \(Mutation.allCases.filter { $0 != .none }.map(\.rawValue).joined(separator: ", ")).")
    var mutation: String = "none"
    @Flag(help: "Let one clock drift beyond the configured bound.") var beyondDrift = false
    @Flag(help: "Never fail a database action in the Postgres model (runs as before failures were modelled).") var noDatabaseFailures = false
    @Option(help: "Simulated seconds of faults per seed.") var safetySeconds: Int64 = 20
    @Option(help: "What the seeds draw: \(SimShape.allCases.map(\.rawValue).joined(separator: ", ")) (several databases failing over at once off one killed node, issue 22).")
    var shape: String = SimShape.random.rawValue
    @Flag(help: "parallel-failover: no false suspicions by the failure detectors.") var noFalseSuspicions = false
    @Flag(help: "parallel-failover: no servers slowed by the failover load.") var noSlowNodes = false
    @Flag(help: "Count a replica recovered once a full-size group serves it, without waiting for an acknowledged write (the rule before issue 22; never in parallel-failover).")
    var noLivenessAck = false
    @Option(help: "Run a campaign's seeds on this many threads (1-64); results and output are those of one job, in seed order.")
    var jobs: Int = 1
    @Flag(help: "Benchmark: 5 servers × 20 replicas; print core steps per second and simulation speed-up.") var bench = false

    func validate() throws {
        guard Mutation(rawValue: mutation) != nil else {
            throw ValidationError("unknown mutation '\(mutation)'; choose one of: \(Mutation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard SimShape(rawValue: shape) != nil else {
            throw ValidationError("unknown shape '\(shape)'; choose one of: \(SimShape.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard safetySeconds > 0 && safetySeconds <= 3_600 else { throw ValidationError("--safety-seconds must be 1...3600") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be 1...64 (threads running seeds at once), got \(jobs)") }
        if let n = seeds, n < 1 || n > 10_000_000 { throw ValidationError("--seeds must be 1...10000000") }
        if seed == nil && seeds == nil && !bench { throw ValidationError("give --seed S, --seeds N or --bench") }
    }

    func run() throws {
        let mutation = Mutation(rawValue: mutation)!
        if bench {
            runBench()
            return
        }
        let configure: (inout SimConfig) -> Void = { c in
            c.beyondDrift = beyondDrift
            c.databaseFailures = !noDatabaseFailures
            c.safetySeconds = safetySeconds
            c.trace = trace
            c.shape = SimShape(rawValue: shape)!
            c.falseSuspicions = !noFalseSuspicions
            c.slowNodes = !noSlowNodes
            c.livenessNeedsAck = !noLivenessAck
        }
        if let seed {
            var config = SimConfig(seed: seed, mutation: mutation)
            configure(&config)
            var sim = Simulation(config: config)
            let result = sim.run()
            for line in result.trace { print(line) }
            print("seed \(seed): \(result.shape) steps=\(result.steps) acked=\(result.ackedWrites) reads=\(result.reads) recovery_ms=\(result.recoveryMs ?? -1)")
            if let v = result.violations.first {
                print("FAIL \(v)\nreplay: \(result.config.replayCommand)")
                throw ExitCode(1)
            }
            print("ok")
            return
        }
        let count = seeds ?? 1
        let clock = ContinuousClock()
        let start = clock.now
        let summary = Campaign.run(from: from, count: count, mutation: mutation, stopAtFirstFailure: mutation != .none,
                                   jobs: jobs, configure: configure) { r in
            if let v = r.violations.first { print("FAIL seed \(r.config.seed): \(v)\n  replay: \(r.config.replayCommand)") }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("seeds=\(summary.seeds) failures=\(summary.failures.count) acked_writes=\(summary.ackedWrites) core_steps=\(summary.coreSteps) max_recovery_ms=\(summary.maxRecoveryMs) wall_s=\(Double(Int(seconds * 10)) / 10) sim_speedup=\(Int(Double(summary.simulatedNs) / 1e9 / max(seconds, 1e-9)))")
        if mutation != .none {
            if let f = summary.failures.first, let v = f.violations.first {
                print("mutation \(mutation.rawValue) caught at seed \(f.config.seed), step \(v.step): [\(v.invariant)]")
            } else {
                print("mutation \(mutation.rawValue) NOT caught in \(summary.seeds) seeds")
                throw ExitCode(1)
            }
        } else if !summary.failures.isEmpty {
            throw ExitCode(1)
        }
    }
}

extension KetchSim {
    func runBench() {
        let clock = ContinuousClock()
        var steps = 0, coreNs: Int64 = 0, simNs: Int64 = 0
        let start = clock.now
        for seed in UInt64(1)...3 {
            var c = SimConfig(seed: seed)
            c.servers = 5
            c.replicas = 20
            c.safetySeconds = 60
            c.measureCore = true
            var sim = Simulation(config: c)
            let r = sim.run()
            steps += r.coreSteps
            coreNs += r.coreNs
            simNs += r.simulatedNs
        }
        let d = clock.now - start
        let wall = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        let perSecond = Int(Double(steps) / (Double(coreNs) / 1e9))
        print("core_steps_per_s=\(perSecond) sim_speedup=\(Int(Double(simNs) / 1e9 / wall)) core_steps=\(steps) simulated_s=\(simNs / 1_000_000_000) wall_s=\(Double(Int(wall * 10)) / 10) shape=5x20")
    }
}

KetchSim.main()
