import KetchShared

/// What a proposer is trying to lease: an epoch, for itself (`successor == nil`) or on behalf
/// of a successor epoch (Step 3), from that epoch's quorum group.
struct LeaseTarget: Hashable {
    var epoch: EpochID
    var successor: EpochID?
    var group: [ServerID]
    var quorum: Int { group.count / 2 + 1 }
}

/// A PaxosLease proposer for one replica. Not persisted: after a restart the lease is simply
/// lost and acquired again. Ballots come from the core's persisted sequence.
struct LeaseProposer {
    enum Phase: Hashable {
        case idle
        case preparing(ballot: Ballot, started: Instant, granted: Set<ServerID>)
        /// `started` is the instant read *before* the proposes were sent: the lease timer's origin.
        case proposing(ballot: Ballot, started: Instant, granted: Set<ServerID>, allOpen: Bool, sawClosed: Bool = false)
    }

    let target: LeaseTarget
    var phase: Phase = .idle
    /// The lease is ours while `now < leaseEnd`.
    var leaseEnd: Instant?
    /// Every acceptor of the quorum that granted the lease reported the epoch open.
    var leaseAllOpen = false
    /// Some acceptor that granted the lease reported the epoch closed: another server's Step 4
    /// closed it, and an epoch is closed if any acceptor says so.
    var leaseSawClosed = false
    /// When the current lease's propose round started (renewal is measured from here).
    var leaseStarted: Instant?
    /// Do not start a new round before this (another server's lease, or backoff).
    var notBefore: Instant = .zero
    /// Highest promise seen in a refusal: the next ballot must exceed it.
    var highestSeen: Ballot = .zero
    /// Ballot of the latest propose round sent: a release names it (PaxosLease's release).
    var lastProposed: Ballot?
    /// Acceptors that no longer know the epoch. When a quorum of them say so, the epoch was
    /// replaced by a newer one everywhere that matters and can never be leased again.
    var unknownAt: Set<ServerID> = []
    var epochGone: Bool { unknownAt.count >= target.quorum }
    /// Acceptors that recorded another successor for the epoch (a successor never changes).
    /// Only when so many did that no quorum is left for ours is the epoch lost to the other
    /// successor: one acceptor saying so may be one half of a split (seed 32114: 1@s1 revoked to
    /// 3@s1 at s1 and to 6@s2 at s2, each side gave up on hearing the other, and nobody was
    /// in-sync any more although s3's acceptor could still decide it).
    var revokedAt: Set<ServerID> = []
    /// Counted together with the acceptors that forgot the epoch: neither will ever grant it
    /// (seed 5545: one of each left a dead-branch reconfigurer waiting forever).
    var revokedElsewhere: Bool { revokedAt.union(unknownAt).count > target.group.count - target.quorum }

    /// Acceptors that refused the round in flight. The round goes on while a quorum can still
    /// grant: one refusal arriving first (often this server's own acceptor, which answers inside
    /// the step) must not void the grants still on their way (seeds 58309 and 63062: a prior
    /// unknown to this server's acceptor and one other of five, or of three with this server in
    /// the group by an older record, ended every round before the granting replies arrived).
    var refusedInRound: Set<ServerID> = []
    var roundLost: Bool { refusedInRound.count > target.group.count - target.quorum }

    /// Rounds in a row given up unfinished because their replies were slower than the retry
    /// interval. Each doubles the next round's time (up to `maxRetryDoublings`): on a loaded
    /// node a round of two acceptor round trips, each behind an fsync, takes longer than 300 ms,
    /// and a proposer that starts over every 300 ms with a higher ballot voids its own round
    /// each time and never renews (issue 22: primaries fenced 0.2 s after opening).
    var roundsGivenUp = 0
    static let maxRetryDoublings = 2
    /// When the round in flight sent its prepares, and how long the last granted round took
    /// from there (a slow one is logged: it says how close renewals come to the lease's end).
    var roundBegan: Instant?
    var lastRoundTook: Span?

    init(target: LeaseTarget) { self.target = target }

    /// How long the round in flight may take before another starts.
    func retryAfter(_ retry: Span) -> Span {
        Span(nanoseconds: retry.nanoseconds << Int64(min(roundsGivenUp, Self.maxRetryDoublings)))
    }

    func holds(at now: Instant) -> Bool { leaseEnd.map { now < $0 } ?? false }

    /// Whether to start a round now: no lease, or time to renew, and nothing in flight.
    func wantsRound(at now: Instant, renewPeriod: Span, retry: Span) -> Bool {
        switch phase {
        case .idle:
            if now < notBefore { return false }
            if holds(at: now), let s = leaseStarted { return now >= s + renewPeriod }
            return true
        case .preparing(_, let started, _), .proposing(_, let started, _, _, _):
            // A renewal in flight is not given up while the lease it renews still holds: a new
            // ballot would void it at every acceptor it reaches first, and under load a round
            // takes longer than the retry interval (issue 22: rounds of 0.6-1.1 s, voided at
            // 0.3 s and 0.9 s, let the lease of a just-opened primary run out). If its replies
            // never come, the lease ends and the next round starts at once.
            if holds(at: now) { return false }
            return now >= started + retryAfter(retry)
        }
    }

    mutating func startPrepare(ballot: Ballot, now: Instant, replica: ReplicaID, me: ServerID) -> [(ServerID, KetchMessage)] {
        if phase != .idle { roundsGivenUp += 1 }
        roundBegan = now
        phase = .preparing(ballot: ballot, started: now, granted: [])
        refusedInRound = []
        let m = LeasePrepare(replica: replica, source: me, epoch: target.epoch, ballot: ballot, successor: target.successor)
        return target.group.map { ($0, .leasePrepare(m)) }
    }

    /// Handles a prepare reply; returns the proposes to send when a quorum promised and nobody
    /// else holds an unexpired lease. The timer origin is `now`, read before sending.
    mutating func prepareReply(_ r: LeasePrepareReply, now: Instant, me: ServerID, timing: LeaseTiming, backoff: Span) -> [(ServerID, KetchMessage)] {
        if r.refusal == .unknownEpoch, target.group.contains(r.source), r.ballot.server == me { unknownAt.insert(r.source) }
        if r.refusal == .revokedToOther, target.group.contains(r.source) { revokedAt.insert(r.source) }
        guard case .preparing(let ballot, let started, var granted) = phase, r.ballot == ballot,
              target.group.contains(r.source) else { return [] }
        if let refusal = r.refusal {
            if refusal == .staleBallot { highestSeen = max(highestSeen, r.highestPromised) }
            refusedInRound.insert(r.source)
            if roundLost {
                phase = .idle
                notBefore = now + backoff
            }
            return []
        }
        if let owner = r.acceptedOwner, owner != me {
            phase = .idle
            notBefore = now + (r.acceptedRemaining ?? .zero) + backoff
            return []
        }
        unknownAt.remove(r.source)
        granted.insert(r.source)
        guard granted.count >= target.quorum else {
            phase = .preparing(ballot: ballot, started: started, granted: granted)
            return []
        }
        phase = .proposing(ballot: ballot, started: now, granted: [], allOpen: true)
        refusedInRound = []
        lastProposed = ballot
        let m = LeasePropose(replica: r.replica, source: me, epoch: target.epoch, ballot: ballot, owner: me,
                             timeout: timing.duration, successor: target.successor)
        return target.group.map { ($0, .leasePropose(m)) }
    }

    /// Handles a propose reply; returns true when the lease was (re)acquired by this reply.
    mutating func proposeReply(_ r: LeaseProposeReply, now: Instant, timing: LeaseTiming, backoff: Span) -> Bool {
        if r.refusal == .revokedToOther, target.group.contains(r.source) { revokedAt.insert(r.source) }
        guard case .proposing(let ballot, let started, var granted, var allOpen, var sawClosed) = phase, r.ballot == ballot,
              target.group.contains(r.source) else { return false }
        if r.refusal != nil {
            refusedInRound.insert(r.source)
            if roundLost {
                phase = .idle
                notBefore = now + backoff
            }
            return false
        }
        granted.insert(r.source)
        // Step 3: the epoch counts as closed if any granting acceptor reports a state other than open.
        if r.epochState != .open { allOpen = false }
        if r.epochState == .closed { sawClosed = true }
        guard granted.count >= target.quorum else {
            phase = .proposing(ballot: ballot, started: started, granted: granted, allOpen: allOpen, sawClosed: sawClosed)
            return false
        }
        phase = .idle
        roundsGivenUp = 0
        lastRoundTook = roundBegan.map { now - $0 }
        leaseEnd = started + timing.proposerLease
        leaseStarted = started
        leaseAllOpen = allOpen
        leaseSawClosed = sawClosed
        return true
    }
}
