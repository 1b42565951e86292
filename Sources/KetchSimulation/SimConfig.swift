import KetchCore
import KetchShared

/// What kind of run the seed draws.
public enum SimShape: String, Sendable, CaseIterable {
    /// 3-7 servers, 2-4 replicas homed round the servers, every kind of fault (the default).
    case random
    /// What an operator with several databases sees when one server dies: 4-5 servers, 6-8
    /// replicas of group size 3 whose primaries are all on one server, that server's node killed
    /// (kill -9) while writes go on, so the failovers run in parallel on the same few servers,
    /// which get slow under the load; failure detectors that now and then suspect a live server
    /// for a moment (more often when it or they are loaded). No other faults. Issue 22.
    case parallelFailover = "parallel-failover"
}

/// Everything about one simulated run except what the seed decides.
public struct SimConfig: Sendable {
    public var seed: UInt64
    public var shape: SimShape = .random
    /// parallel-failover: a failure detector suspects a live server now and then, for 100-500 ms.
    public var falseSuspicions = true
    /// parallel-failover: a server busy with many database actions handles its events late.
    public var slowNodes = true
    /// Liveness counts a replica recovered only once a write issued after the heal is
    /// acknowledged by its data quorum (always so in parallel-failover). The default since the
    /// issue 22 fixes: on the core before them 11 of seeds 1-1000 at 10 s failed this way while
    /// "served by a full-size group" counted them recovered; on the fix 0 of 1,000 (and of seeds
    /// 5001-6000 at 20 s). `--no-liveness-ack` asks for the old, weaker rule.
    public var livenessNeedsAck = true
    /// Simulated seconds of faults (the safety phase).
    public var safetySeconds: Int64 = 20
    /// After healing, a primary must serve every replica again within this many simulated seconds.
    public var livenessBoundSeconds: Int64 = 30
    public var mutation: Mutation = .none
    /// Let one clock drift beyond ρ (the protocol is then allowed to fail; off by default).
    public var beyondDrift = false
    public var trace = false
    /// Let the Postgres model fail a promote (and, less often, a follow or clone) now and then,
    /// drawn from its own seed-derived stream so runs without a failure replay as before.
    public var databaseFailures = true
    /// Fixed cluster shape (benchmarks); nil lets the seed choose.
    public var servers: Int?
    public var replicas: Int?
    /// Time every `KetchCore.handle` call (benchmarks).
    public var measureCore = false

    public init(seed: UInt64, mutation: Mutation = .none) { self.seed = seed; self.mutation = mutation }

    /// Whether the liveness phase waits for an acknowledged write (see `livenessNeedsAck`).
    var needsAck: Bool { livenessNeedsAck || shape == .parallelFailover }

    /// The command that replays this run.
    public var replayCommand: String {
        var s = "ketch-sim --seed \(seed)"
        if shape != .random { s += " --shape \(shape.rawValue)" }
        if shape == .parallelFailover && !falseSuspicions { s += " --no-false-suspicions" }
        if shape == .parallelFailover && !slowNodes { s += " --no-slow-nodes" }
        if !livenessNeedsAck && shape == .random { s += " --no-liveness-ack" }
        if mutation != .none { s += " --mutation \(mutation.rawValue)" }
        if beyondDrift { s += " --beyond-drift" }
        if safetySeconds != 20 { s += " --safety-seconds \(safetySeconds)" }
        if !databaseFailures { s += " --no-database-failures" }
        return s + " --trace"
    }
}

/// An invariant that did not hold.
public struct Violation: Sendable, CustomStringConvertible {
    public var invariant: String
    public var message: String
    public var step: Int
    public var atMs: Int64
    public var description: String { "step \(step) at \(atMs)ms: [\(invariant)] \(message)" }
}

/// What a run produced.
public struct SimResult: Sendable {
    public var config: SimConfig
    public var violations: [Violation] = []
    public var steps = 0
    public var coreSteps = 0
    public var simulatedNs: Int64 = 0
    public var ackedWrites = 0
    /// Writes issued after the heal and acknowledged by their data quorum.
    public var ackedAfterHeal = 0
    public var reads = 0
    /// Database actions the Postgres model failed (promote, follow, clone).
    public var databaseFailures = 0
    /// Milliseconds from healing to every replica served by a full-size group (and, where
    /// liveness needs it, a write acknowledged).
    public var recoveryMs: Int64?
    /// Wall-clock nanoseconds spent inside `KetchCore.handle` (with `measureCore`).
    public var coreNs: Int64 = 0
    public var trace: [String] = []
    public var shape = ""
    public var passed: Bool { violations.isEmpty }
}
