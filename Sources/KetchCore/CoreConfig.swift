import KetchShared

/// Settings of one server's core. Durations are on the server's own monotonic clock.
public struct CoreConfig: Hashable, Sendable {
    public var server: ServerID
    /// The lease duration sent in every propose; acceptors measure it on their own clocks.
    public var leaseDuration: Span
    /// How often the lease holder renews (well before its shortened lease runs out).
    public var renewPeriod: Span
    /// Bound on clock-rate error, in parts per million (100_000 = ρ of 10%).
    public var driftPPM: Int64
    /// How long a lease round (prepare or propose) or a request batch may take before it is retried.
    public var retryInterval: Span
    /// How long a data-quorum member may stay out of the primary's caught-up set, while its
    /// server is healthy, before the primary moves its synchronous place to a caught-up async
    /// member (a new epoch). Every commit waits for every data-quorum member, so a standby whose
    /// Postgres hangs holds all writes for as long as it hangs; a dead server is reconfigured
    /// around by the failure detector, a stuck database only by this. nil: never.
    public var dataQuorumStall: Span?
    /// What the node (and the simulator, as the node) uses: two leases, so a standby's
    /// postmaster that crashed, back and streaming in a second or two, is waited out, and one
    /// that hangs has its place taken.
    public static func dataQuorumStall(lease: Span) -> Span { lease * 2 }
    /// Deliberately broken rules, for the simulator's "does the checker have teeth" mode only.
    /// Production code never sets this; it defaults to `.none`.
    public var mutation: Mutation

    public init(server: ServerID, leaseDuration: Span = .seconds(3), renewPeriod: Span = .seconds(1),
                drift: Double = 0.1, retryInterval: Span = .milliseconds(300), dataQuorumStall: Span? = nil, mutation: Mutation = .none) {
        self.server = server; self.leaseDuration = leaseDuration; self.renewPeriod = renewPeriod
        self.driftPPM = Int64((drift * 1_000_000).rounded()); self.retryInterval = retryInterval
        self.dataQuorumStall = dataQuorumStall
        self.mutation = mutation
    }

    public var timing: LeaseTiming { LeaseTiming(duration: leaseDuration, driftPPM: driftPPM, ignoreDrift: mutation == .proposerIgnoresDrift) }
}

/// SIMULATION ONLY. Each case breaks one safety rule on purpose so the simulator can show that
/// its invariant checker notices. `KetchNode` never sets anything but `.none`.
public enum Mutation: String, Hashable, Sendable, CaseIterable {
    case none
    /// Acceptors grant leases on a revoked epoch to any successor (breaks the PDF's extension).
    case acceptorIgnoresSuccessor = "acceptor-ignores-successor"
    /// The proposer trusts its lease for the full duration, ignoring clock drift.
    case proposerIgnoresDrift = "proposer-ignores-drift"
    /// Step 9 runs as soon as the revokes are sent, without waiting for a quorum (Step 8).
    case openBeforeRevokeQuorum = "open-before-revoke-quorum"
    /// The primary configures no synchronous standbys, so commits are acknowledged before the
    /// data quorum has them (breaks Step 5).
    case ackBeforeDataQuorum = "ack-before-data-quorum"
    /// A planned switchover releases the lease in the same step that fences, so the release
    /// leaves before the database has stopped serving (breaks the release rule).
    case releaseBeforeFence = "release-before-fence"
}

/// The time-safety arithmetic of the lease.
///
/// The proposer reads its clock (t0) *before* sending propose and holds the lease until
/// t0 + Lp on its own clock; an acceptor that accepts sets its grant to end D later on *its* clock,
/// at a real moment no earlier than the send. With every clock's rate within [1−ρ, 1+ρ] of real
/// time, the proposer's lease lasts at most Lp/(1−ρ) real time from the send and the grant at
/// least D/(1+ρ) from a later moment, so the lease ends strictly before any grant ends when
///
///     Lp / (1 − ρ) < D / (1 + ρ)    ⇔    Lp < D · (1 − ρ) / (1 + ρ)
///
/// We take Lp = ⌊D · (1 − ρ) / (1 + ρ)⌋ − 1 ms. Fencing happens at t0 + Lp, so a primary stops
/// serving before any acceptor could grant the lease to someone else.
public struct LeaseTiming: Hashable, Sendable {
    public var duration: Span
    public var driftPPM: Int64
    public var ignoreDrift: Bool

    public init(duration: Span, driftPPM: Int64, ignoreDrift: Bool = false) {
        self.duration = duration; self.driftPPM = driftPPM; self.ignoreDrift = ignoreDrift
    }

    /// Lp: how long the proposer may trust a lease, from the instant read before sending propose.
    public var proposerLease: Span {
        if ignoreDrift { return duration }
        let d = duration.nanoseconds
        // No overflow for leases up to about two hours (d · 10⁶ < 2⁶³).
        let scaled = d * (1_000_000 - driftPPM) / (1_000_000 + driftPPM)
        return Span(nanoseconds: scaled - 1_000_000)
    }

    /// How long a rebooted acceptor stays silent: a grant it gave in its previous boot lasted D
    /// on the old clock, at most D/(1−ρ) real time; waiting D·(1+ρ)/(1−ρ) on the new clock takes
    /// at least that long.
    public var rebootQuiet: Span {
        let d = duration.nanoseconds
        return Span(nanoseconds: d * (1_000_000 + driftPPM) / (1_000_000 - driftPPM) + 1_000_000)
    }
}
