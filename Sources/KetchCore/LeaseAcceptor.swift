import KetchShared

/// An accepted PaxosLease proposal. `expiry` is on this server's clock and only valid in the
/// boot it was written in.
public struct AcceptedProposal: Hashable, Codable, Sendable {
    public var ballot: Ballot
    public var owner: ServerID
    public var expiry: Instant
    /// The successor the proposal was made for (nil: for the epoch itself).
    public var successor: EpochID?
    public init(ballot: Ballot, owner: ServerID, expiry: Instant, successor: EpochID?) {
        self.ballot = ballot; self.owner = owner; self.expiry = expiry; self.successor = successor
    }
}

/// Acceptor state for one epoch: the PDF's Epoch state plus the lease acceptor's state.
public struct AcceptorEpoch: Hashable, Codable, Sendable {
    public var id: EpochID
    public var state: EpochState
    /// Set once revoked; then leases are granted only to requests naming this successor.
    public var successor: EpochID?
    public var promised: Ballot
    public var accepted: AcceptedProposal?
    /// The prior named by the Epoch Setup that created this epoch here (nil: none, or a record
    /// written before it was kept). A reconfigurer's prior always completed Step 8, so this is
    /// an epoch of the chain of completed epochs (see `setup`).
    public var setupPrior: EpochID?
    public init(id: EpochID, state: EpochState = .new, successor: EpochID? = nil, promised: Ballot = .zero, accepted: AcceptedProposal? = nil,
                setupPrior: EpochID? = nil) {
        self.id = id; self.state = state; self.successor = successor; self.promised = promised; self.accepted = accepted
        self.setupPrior = setupPrior
    }

    func liveOwner(at now: Instant) -> ServerID? {
        guard let a = accepted, now < a.expiry else { return nil }
        return a.owner
    }
}

/// The acceptor of one replica on this server: the current epoch and at most one prior
/// (normally revoked) epoch, as the PDF prescribes.
public struct AcceptorRecord: Hashable, Codable, Sendable {
    public var replica: ReplicaID
    public var current: AcceptorEpoch?
    public var prior: AcceptorEpoch?
    /// Highest epoch ever set up here: a setup for an older one is refused, so state that was
    /// replaced can never come back empty (which could grant a lease someone still holds).
    public var highestSetup: EpochID?

    public init(replica: ReplicaID, current: AcceptorEpoch? = nil, prior: AcceptorEpoch? = nil, highestSetup: EpochID? = nil) {
        self.replica = replica; self.current = current; self.prior = prior; self.highestSetup = highestSetup
    }

    public func epoch(_ id: EpochID) -> AcceptorEpoch? {
        if current?.id == id { return current }
        if prior?.id == id { return prior }
        return nil
    }

    mutating func update(_ e: AcceptorEpoch) {
        if current?.id == e.id { current = e } else if prior?.id == e.id { prior = e }
    }
}

/// The acceptor's rules. Each function returns the reply and whether the record changed (the
/// caller persists the record before sending the reply).
struct LeaseAcceptor {
    var record: AcceptorRecord
    let me: ServerID
    let maxLease: Span
    let ignoreSuccessor: Bool

    /// Leases on a revoked epoch go only to its recorded successor (the PDF's extension).
    private func successorRefusal(_ e: AcceptorEpoch, _ successor: EpochID?) -> ProtocolRefusal? {
        guard let s = e.successor, !ignoreSuccessor else { return nil }
        return s == successor ? nil : .revokedToOther
    }

    mutating func prepare(_ m: LeasePrepare, now: Instant, quiet: Bool) -> (LeasePrepareReply, Bool) {
        func reply(_ promised: Ballot, _ refusal: ProtocolRefusal?, owner: ServerID? = nil, remaining: Span? = nil) -> LeasePrepareReply {
            LeasePrepareReply(replica: m.replica, source: me, epoch: m.epoch, ballot: m.ballot, highestPromised: promised,
                              acceptedOwner: owner, acceptedRemaining: remaining, refusal: refusal,
                              successor: refusal == .revokedToOther ? record.epoch(m.epoch)?.successor : nil)
        }
        if quiet { return (reply(.zero, .rebooting), false) }
        guard var e = record.epoch(m.epoch) else { return (reply(.zero, .unknownEpoch), false) }
        if let r = successorRefusal(e, m.successor) { return (reply(e.promised, r), false) }
        if m.ballot < e.promised { return (reply(e.promised, .staleBallot), false) }
        let changed = m.ballot != e.promised
        e.promised = m.ballot
        record.update(e)
        if let owner = e.liveOwner(at: now), let a = e.accepted {
            return (reply(e.promised, nil, owner: owner, remaining: a.expiry - now), changed)
        }
        return (reply(e.promised, nil), changed)
    }

    mutating func propose(_ m: LeasePropose, now: Instant, quiet: Bool) -> (LeaseProposeReply, Bool) {
        func reply(_ state: EpochState?, _ refusal: ProtocolRefusal?) -> LeaseProposeReply {
            LeaseProposeReply(replica: m.replica, source: me, epoch: m.epoch, ballot: m.ballot, epochState: state, refusal: refusal,
                              successor: refusal == .revokedToOther ? record.epoch(m.epoch)?.successor : nil)
        }
        if quiet { return (reply(nil, .rebooting), false) }
        guard var e = record.epoch(m.epoch) else { return (reply(nil, .unknownEpoch), false) }
        if let r = successorRefusal(e, m.successor) { return (reply(e.state, r), false) }
        if m.ballot < e.promised { return (reply(e.state, .staleBallot), false) }
        if m.timeout > maxLease { return (reply(e.state, .durationTooLong), false) }
        e.promised = m.ballot
        e.accepted = AcceptedProposal(ballot: m.ballot, owner: m.owner, expiry: now + m.timeout, successor: m.successor)
        record.update(e)
        return (reply(e.state, nil), true)
    }

    /// PaxosLease's release: the owner stopped using its lease, so its accepted proposal is
    /// dropped and the next proposer is granted at once. Only the sender's own proposal for the
    /// epoch itself with a ballot up to the one named goes (a later lease of the same owner, or
    /// a Step 3 lease made for a successor, stays). Promises, state and successor are untouched,
    /// so the revoke and successor rules hold as before. Always answered: "nothing of yours here"
    /// is as good as released.
    mutating func release(_ m: LeaseRelease) -> (EpochReply, Bool) {
        let reply = EpochReply(replica: m.replica, source: me, epoch: m.epoch, refusal: nil)
        guard var e = record.epoch(m.epoch), let a = e.accepted, a.owner == m.source, a.successor == nil,
              a.ballot <= m.ballot else { return (reply, false) }
        e.accepted = nil
        record.update(e)
        return (reply, true)
    }

    mutating func setup(_ m: EpochSetup) -> (EpochReply, Bool) {
        func reply(_ r: ProtocolRefusal?) -> EpochReply { EpochReply(replica: m.replica, source: me, epoch: m.epoch, refusal: r) }
        if record.epoch(m.epoch) != nil { return (reply(nil), false) }
        if let h = record.highestSetup, m.epoch < h { return (reply(.olderEpoch), false) }
        // The epochs that completed Step 8 form one chain of growing numbers (each prior revoked
        // to one successor by a quorum), and a setup's prior is on it (a reconfigurer's prior
        // always completed Step 8). A prior older than the one an epoch here was set up with was
        // therefore revoked by a quorum to its chain successor, which is older than this setup's
        // epoch (above everything set up here): that epoch can never complete Step 8 or open,
        // and setting it up would push out an epoch that may be live (seed 25024: the late
        // setups of 7@s1, prior 1@s3, replaced 4@s3, then 5@s3 with prior 4@s3, at s4 and s5).
        // The same for the prior an open epoch here was set up with: it went to that epoch.
        if let p = m.prior {
            for e in [record.current, record.prior] {
                guard let e, let ep = e.setupPrior else { continue }
                if p < ep || (p == ep && e.state == .open) { return (reply(.revokedToOther), false) }
            }
        }
        if let cur = record.current {
            if let p = m.prior, let prior = record.prior, prior.id == p {
                // Another successor of our prior. The current one is dropped only if it is a
                // successor that never opened and the prior did not go to it: an open current
                // epoch completed Step 8 (its prior, or one before it, was revoked towards it by
                // a quorum), and a prior revoked here to another successor will never record
                // this one, so the sender's epoch is on a dead branch or at best one half of a
                // split (it can still open elsewhere; here it is refused until Question 9 starts
                // a successor of it). Seed 25024: 7@s1 (prior 1@s3) closed 1@s3 and went quiet;
                // its late setups replaced the open 4@s3 (1@s3 revoked to it) at s4 and s5, whose
                // leases of 4@s3 were then `unknown-epoch` and every copy ended catch-up.
                if cur.state == .open || (prior.successor != nil && prior.successor != m.epoch) {
                    return (reply(.revokedToOther), false)
                }
            } else {
                record.prior = cur
            }
        }
        record.current = AcceptorEpoch(id: m.epoch, setupPrior: m.prior)
        record.highestSetup = m.epoch
        return (reply(nil), true)
    }

    mutating func open(_ m: EpochRequest) -> (EpochReply, Bool) {
        func reply(_ r: ProtocolRefusal?) -> EpochReply { EpochReply(replica: m.replica, source: me, epoch: m.epoch, refusal: r) }
        guard var e = record.current, e.id == m.epoch else { return (reply(.unknownEpoch), false) }
        switch e.state {
        case .open: return (reply(nil), false)
        case .closed: return (reply(.epochClosed), false)
        case .new:
            e.state = .open
            record.current = e
            return (reply(nil), true)
        }
    }

    /// Step 4. Refused while another server holds an unexpired grant here, so that once a quorum
    /// has closed the epoch no lease granted before the close can still be running.
    mutating func close(_ m: EpochRequest, now: Instant, quiet: Bool) -> (EpochReply, Bool) {
        func reply(_ r: ProtocolRefusal?) -> EpochReply { EpochReply(replica: m.replica, source: me, epoch: m.epoch, refusal: r) }
        if quiet { return (reply(.rebooting), false) }
        guard var e = record.epoch(m.epoch) else { return (reply(.unknownEpoch), false) }
        if e.state == .closed { return (reply(nil), false) }
        if let owner = e.liveOwner(at: now), owner != m.source { return (reply(.leaseHeldByOther), false) }
        e.state = .closed
        record.update(e)
        return (reply(nil), true)
    }

    /// Step 8. Granted to one successor only, and not while another server holds a grant here:
    /// after a quorum revoked, no lease of this epoch is running and only the successor can lease it.
    mutating func revoke(_ m: EpochRevoke, now: Instant, quiet: Bool) -> (EpochRevokeReply, Bool) {
        func reply(_ r: ProtocolRefusal?) -> EpochRevokeReply {
            EpochRevokeReply(replica: m.replica, source: me, epoch: m.epoch, successor: m.successor, refusal: r)
        }
        if quiet { return (reply(.rebooting), false) }
        guard var e = record.epoch(m.epoch) else { return (reply(.unknownEpoch), false) }
        if e.successor == m.successor { return (reply(nil), false) }
        if e.successor != nil { return (reply(.revokedToOther), false) }
        if let owner = e.liveOwner(at: now), owner != m.source { return (reply(.leaseHeldByOther), false) }
        e.successor = m.successor
        e.state = .closed
        if record.current?.id == e.id {
            record.current = nil
            record.prior = e
        } else {
            record.prior = e
        }
        return (reply(nil), true)
    }
}
