import Testing
@testable import KetchCore
import KetchShared

private let r = ReplicaID("r1")
private let a = ServerID("a"), b = ServerID("b"), c = ServerID("c")
private let e1 = EpochID(sequence: 1, server: a), e2 = EpochID(sequence: 2, server: b), e3 = EpochID(sequence: 3, server: c)
private func t(_ ms: Int64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }

private func acceptor() -> LeaseAcceptor {
    var x = LeaseAcceptor(record: AcceptorRecord(replica: r), me: c, maxLease: .seconds(3), ignoreSuccessor: false)
    _ = x.setup(EpochSetup(replica: r, source: a, epoch: e1, prior: nil))
    return x
}

@Test func promisedBallotNeverDecreases() {
    var x = acceptor()
    let hi = Ballot(sequence: 5, server: a), lo = Ballot(sequence: 4, server: b)
    #expect(x.prepare(LeasePrepare(replica: r, source: a, epoch: e1, ballot: hi, successor: nil), now: t(0), quiet: false).0.refusal == nil)
    let (reply, changed) = x.prepare(LeasePrepare(replica: r, source: b, epoch: e1, ballot: lo, successor: nil), now: t(1), quiet: false)
    #expect(reply.refusal == .staleBallot)
    #expect(reply.highestPromised == hi)
    #expect(!changed)
    #expect(x.record.current?.promised == hi)
}

@Test func prepareReportsAnUnexpiredGrantAndForgetsAnExpiredOne() {
    var x = acceptor()
    let b1 = Ballot(sequence: 1, server: a)
    _ = x.prepare(LeasePrepare(replica: r, source: a, epoch: e1, ballot: b1, successor: nil), now: t(0), quiet: false)
    let (p, changed) = x.propose(LeasePropose(replica: r, source: a, epoch: e1, ballot: b1, owner: a, timeout: .seconds(3), successor: nil), now: t(10), quiet: false)
    #expect(p.refusal == nil && changed)
    #expect(p.epochState == .new)
    let during = x.prepare(LeasePrepare(replica: r, source: b, epoch: e1, ballot: Ballot(sequence: 2, server: b), successor: nil), now: t(1000), quiet: false).0
    #expect(during.acceptedOwner == a)
    #expect(during.acceptedRemaining == .milliseconds(2010))
    let after = x.prepare(LeasePrepare(replica: r, source: b, epoch: e1, ballot: Ballot(sequence: 3, server: b), successor: nil), now: t(3010), quiet: false).0
    #expect(after.acceptedOwner == nil && after.refusal == nil)
}

@Test func aRevokedEpochGrantsOnlyToItsSuccessor() {
    var x = acceptor()
    #expect(x.revoke(EpochRevoke(replica: r, source: b, epoch: e1, successor: e2), now: t(0), quiet: false).0.refusal == nil)
    #expect(x.record.prior?.successor == e2 && x.record.prior?.state == .closed)
    let other = x.prepare(LeasePrepare(replica: r, source: c, epoch: e1, ballot: Ballot(sequence: 9, server: c), successor: e3), now: t(1), quiet: false).0
    #expect(other.refusal == .revokedToOther)
    let own = x.prepare(LeasePrepare(replica: r, source: a, epoch: e1, ballot: Ballot(sequence: 1, server: a), successor: nil), now: t(1), quiet: false).0
    #expect(own.refusal == .revokedToOther)
    let succ = x.prepare(LeasePrepare(replica: r, source: b, epoch: e1, ballot: Ballot(sequence: 10, server: b), successor: e2), now: t(1), quiet: false).0
    #expect(succ.refusal == nil)
    // A second successor cannot revoke it again.
    #expect(x.revoke(EpochRevoke(replica: r, source: c, epoch: e1, successor: e3), now: t(2), quiet: false).0.refusal == .revokedToOther)
}

@Test func closeAndRevokeWaitForAnotherServersGrantToExpire() {
    var x = acceptor()
    let b1 = Ballot(sequence: 1, server: a)
    _ = x.propose(LeasePropose(replica: r, source: a, epoch: e1, ballot: b1, owner: a, timeout: .seconds(3), successor: nil), now: t(0), quiet: false)
    #expect(x.close(EpochRequest(replica: r, source: b, epoch: e1), now: t(100), quiet: false).0.refusal == .leaseHeldByOther)
    #expect(x.revoke(EpochRevoke(replica: r, source: b, epoch: e1, successor: e2), now: t(100), quiet: false).0.refusal == .leaseHeldByOther)
    #expect(x.close(EpochRequest(replica: r, source: a, epoch: e1), now: t(100), quiet: false).0.refusal == nil)
    #expect(x.record.current?.state == .closed)
}

@Test func epochStatesOnlyMoveForward() {
    var x = acceptor()
    #expect(x.open(EpochRequest(replica: r, source: a, epoch: e1)).0.refusal == nil)
    #expect(x.record.current?.state == .open)
    _ = x.close(EpochRequest(replica: r, source: a, epoch: e1), now: t(0), quiet: false)
    #expect(x.open(EpochRequest(replica: r, source: a, epoch: e1)).0.refusal == .epochClosed)
    #expect(x.record.current?.state == .closed)
}

@Test func setupKeepsThePriorAndRefusesOlderEpochs() {
    var x = acceptor()
    _ = x.setup(EpochSetup(replica: r, source: b, epoch: e3, prior: e1))
    #expect(x.record.current?.id == e3 && x.record.prior?.id == e1)
    let (reply, changed) = x.setup(EpochSetup(replica: r, source: b, epoch: e2, prior: e1))
    #expect(reply.refusal == .olderEpoch && !changed)
}

@Test func aQuietAcceptorGrantsNothing() {
    var x = acceptor()
    #expect(x.prepare(LeasePrepare(replica: r, source: a, epoch: e1, ballot: Ballot(sequence: 1, server: a), successor: nil), now: t(0), quiet: true).0.refusal == .rebooting)
    #expect(x.propose(LeasePropose(replica: r, source: a, epoch: e1, ballot: Ballot(sequence: 1, server: a), owner: a, timeout: .seconds(1), successor: nil), now: t(0), quiet: true).0.refusal == .rebooting)
}

@Test func aProposalLongerThanTheConfiguredLeaseIsRefused() {
    var x = acceptor()
    let reply = x.propose(LeasePropose(replica: r, source: a, epoch: e1, ballot: Ballot(sequence: 1, server: a), owner: a, timeout: .seconds(4), successor: nil), now: t(0), quiet: false).0
    #expect(reply.refusal == .durationTooLong)
}

/// PaxosLease's release drops only the sender's own lease of the epoch, up to the ballot named.
@Test func releaseDropsOnlyTheOwnersLeaseUpToItsBallot() {
    var x = acceptor()
    let b1 = Ballot(sequence: 1, server: a), b2 = Ballot(sequence: 2, server: a)
    _ = x.prepare(LeasePrepare(replica: r, source: a, epoch: e1, ballot: b2, successor: nil), now: t(0), quiet: false)
    _ = x.propose(LeasePropose(replica: r, source: a, epoch: e1, ballot: b2, owner: a, timeout: .seconds(3), successor: nil), now: t(0), quiet: false)
    // Another server, or the owner naming an older ballot, cannot release it.
    #expect(x.release(LeaseRelease(replica: r, source: b, epoch: e1, ballot: b2)).1 == false)
    let (older, olderChanged) = x.release(LeaseRelease(replica: r, source: a, epoch: e1, ballot: b1))
    #expect(older.refusal == nil && !olderChanged)
    #expect(x.record.current?.accepted?.owner == a)
    let (reply, changed) = x.release(LeaseRelease(replica: r, source: a, epoch: e1, ballot: b2))
    #expect(reply.refusal == nil && changed)
    #expect(x.record.current?.accepted == nil)
    #expect(x.record.current?.promised == b2, "the promise stays: older ballots are still refused")
    let next = x.prepare(LeasePrepare(replica: r, source: b, epoch: e1, ballot: Ballot(sequence: 3, server: b), successor: nil), now: t(10), quiet: false).0
    #expect(next.refusal == nil && next.acceptedOwner == nil, "the next proposer is granted at once")
}

/// A Step 3 lease (made for a successor) is not the epoch's own lease and is not released.
@Test func releaseLeavesALeaseMadeForASuccessor() {
    var x = acceptor()
    let b1 = Ballot(sequence: 1, server: a)
    _ = x.prepare(LeasePrepare(replica: r, source: a, epoch: e1, ballot: b1, successor: e2), now: t(0), quiet: false)
    _ = x.propose(LeasePropose(replica: r, source: a, epoch: e1, ballot: b1, owner: a, timeout: .seconds(3), successor: e2), now: t(0), quiet: false)
    #expect(x.release(LeaseRelease(replica: r, source: a, epoch: e1, ballot: b1)).1 == false)
    #expect(x.record.current?.accepted?.successor == e2)
}
