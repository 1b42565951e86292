import Testing
@testable import KetchCore
import KetchShared

/// The time-safety inequality: Lp / (1 − ρ) < D / (1 + ρ), checked with the extreme clock rates.
@Test(arguments: [Int64(0), 10_000, 100_000, 250_000])
func proposerLeaseEndsBeforeAnyGrant(driftPPM: Int64) {
    let timing = LeaseTiming(duration: .seconds(3), driftPPM: driftPPM)
    let lp = timing.proposerLease.nanoseconds
    let d = timing.duration.nanoseconds
    // Real time the proposer trusts its lease, at its slowest clock rate (1 − ρ):
    let proposerRealMax = Double(lp) / (1 - Double(driftPPM) / 1e6)
    // Real time an acceptor's grant lasts, at its fastest clock rate (1 + ρ):
    let grantRealMin = Double(d) / (1 + Double(driftPPM) / 1e6)
    #expect(proposerRealMax < grantRealMin)
    #expect(lp > 0)
}

@Test func defaultLeaseNumbers() {
    let t = CoreConfig(server: ServerID("a")).timing
    // 3 s · 0.9 / 1.1 = 2.4545… s, minus 1 ms.
    #expect(t.proposerLease.milliseconds == 2453)
    #expect(t.rebootQuiet.milliseconds == 3667)
}

@Test func ignoringDriftIsOnlyAMutation() {
    #expect(CoreConfig(server: ServerID("a")).mutation == .none)
    let broken = CoreConfig(server: ServerID("a"), mutation: .proposerIgnoresDrift).timing
    #expect(broken.proposerLease == .seconds(3))
}
