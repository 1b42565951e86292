@testable import KetchCore
import KetchShared
import Testing

/// Seeds 58309 and 63062 (`ketch-sim --seed S --no-database-failures` on d39b64b): a round ended
/// at the first refusal, and the refusal of this server's own acceptor (answered inside the step)
/// always came first, so the grants of the others, a quorum, were dropped round after round. A
/// round now goes on until a quorum granted or so many refused that no quorum is left.
private let r1 = ReplicaID("r1")
private let s1 = ServerID("s1"), s2 = ServerID("s2"), s3 = ServerID("s3")
private let epoch = EpochID(sequence: 7, server: s2)
private let timing = LeaseTiming(duration: .seconds(3), driftPPM: 100_000)

private func prepareReply(_ from: ServerID, _ b: Ballot, _ refusal: ProtocolRefusal? = nil) -> LeasePrepareReply {
    LeasePrepareReply(replica: r1, source: from, epoch: epoch, ballot: b, highestPromised: b, refusal: refusal)
}

private func proposeReply(_ from: ServerID, _ b: Ballot, _ refusal: ProtocolRefusal? = nil) -> LeaseProposeReply {
    LeaseProposeReply(replica: r1, source: from, epoch: epoch, ballot: b, epochState: .closed, refusal: refusal)
}

@Test func aRoundSurvivesARefusalWhileAQuorumCanStillGrant() {
    var p = LeaseProposer(target: LeaseTarget(epoch: epoch, successor: EpochID(sequence: 16, server: s3), group: [s1, s2, s3]))
    let b = Ballot(sequence: 5, server: s1)
    let t = Instant(nanoseconds: 1_000_000_000)
    _ = p.startPrepare(ballot: b, now: t, replica: r1, me: s1)
    // Our own acceptor never set the epoch up; the other two promise.
    let first = p.prepareReply(prepareReply(s1, b, .unknownEpoch), now: t, me: s1, timing: timing, backoff: .milliseconds(70))
    let second = p.prepareReply(prepareReply(s2, b), now: t, me: s1, timing: timing, backoff: .milliseconds(70))
    #expect(first.isEmpty && second.isEmpty)
    let proposes = p.prepareReply(prepareReply(s3, b), now: t, me: s1, timing: timing, backoff: .milliseconds(70))
    #expect(proposes.count == 3, "a quorum promised: propose")
    // The same at the propose phase.
    let refused = p.proposeReply(proposeReply(s1, b, .unknownEpoch), now: t, timing: timing, backoff: .milliseconds(70))
    let one = p.proposeReply(proposeReply(s2, b), now: t, timing: timing, backoff: .milliseconds(70))
    let two = p.proposeReply(proposeReply(s3, b), now: t, timing: timing, backoff: .milliseconds(70))
    #expect(!refused && !one)
    #expect(two, "a quorum accepted: lease held")
    #expect(p.holds(at: t + .milliseconds(1)))
}

@Test func aRoundEndsOnceNoQuorumIsLeft() {
    var p = LeaseProposer(target: LeaseTarget(epoch: epoch, successor: nil, group: [s1, s2, s3]))
    let b = Ballot(sequence: 5, server: s1)
    let t = Instant(nanoseconds: 1_000_000_000)
    _ = p.startPrepare(ballot: b, now: t, replica: r1, me: s1)
    _ = p.prepareReply(prepareReply(s1, b, .unknownEpoch), now: t, me: s1, timing: timing, backoff: .milliseconds(70))
    #expect(p.phase != .idle)
    _ = p.prepareReply(prepareReply(s2, b, .staleBallot), now: t, me: s1, timing: timing, backoff: .milliseconds(70))
    #expect(p.phase == .idle, "two of three refused: start again later")
    let late = p.prepareReply(prepareReply(s3, b), now: t, me: s1, timing: timing, backoff: .milliseconds(70))
    #expect(late.isEmpty)
}
