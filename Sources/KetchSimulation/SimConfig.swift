import KetchCore
import KetchShared

/// Everything about one simulated run except what the seed decides.
public struct SimConfig: Sendable {
    public var seed: UInt64
    /// Liveness counts a replica recovered only once a write issued after the heal is
    /// acknowledged by its data quorum, not just when a full-size group serves it.
    public var livenessNeedsAck = false
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
    var needsAck: Bool { livenessNeedsAck }

    /// The command that replays this run.
    public var replayCommand: String {
        var s = "ketch-sim --seed \(seed)"
        if livenessNeedsAck { s += " --liveness-ack" }
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
