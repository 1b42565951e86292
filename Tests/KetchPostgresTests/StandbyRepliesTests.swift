@testable import KetchPostgres
import KetchShared
import Testing
@testable import KetchNode

/// A standby is silent when its `reply_time` has not changed for the limit on *this* node's
/// clock. The first version compared `now() - reply_time`, the primary's wall clock against the
/// standby's, so a healthy standby whose clock was 3 s behind would never have counted as
/// caught up (and Step 5 of an epoch naming it would never have finished).
@Suite struct StandbyRepliesTests {
    func standby(_ name: String, reply: String?) -> StandbyReplication {
        StandbyReplication(applicationName: name, state: "streaming", syncState: "sync", replyTime: reply)
    }
    let t0 = Instant(nanoseconds: 1_000_000_000_000)

    @Test func silentOnlyWhenTheReplyTimeStaysTheSameForTheLimit() {
        var replies = StandbyReplies(limit: .seconds(3))
        // s2's clock is an hour behind ours, s3's an hour ahead: neither matters.
        #expect(replies.silent(in: [standby("s2", reply: "10:00:00"), standby("s3", reply: "12:00:00")], now: t0).isEmpty)
        #expect(replies.silent(in: [standby("s2", reply: "10:00:01"), standby("s3", reply: "12:00:00")], now: t0 + .seconds(2)).isEmpty)
        // s3 has not replied for 3.5 s of our time; s2 replied 1.5 s ago.
        #expect(replies.silent(in: [standby("s2", reply: "10:00:01"), standby("s3", reply: "12:00:00")], now: t0 + .milliseconds(3500)) == ["s3"])
        // s3 replies again: not silent any more.
        #expect(replies.silent(in: [standby("s2", reply: "10:00:02"), standby("s3", reply: "12:00:04")], now: t0 + .seconds(4)).isEmpty)
    }

    @Test func aStandbyThatReconnectsStartsAFreshWait() {
        var replies = StandbyReplies(limit: .seconds(3))
        _ = replies.silent(in: [standby("s2", reply: nil)], now: t0)
        #expect(replies.silent(in: [standby("s2", reply: nil)], now: t0 + .seconds(4)) == ["s2"], "never replied in 4 s")
        // Gone from pg_stat_replication, then back with the same (nil) reply time: waits again.
        _ = replies.silent(in: [], now: t0 + .seconds(5))
        #expect(replies.silent(in: [standby("s2", reply: nil)], now: t0 + .seconds(6)).isEmpty)
    }

    @Test func caughtUpLeavesSilentStandbysOut() {
        var s = ServerStatus(role: .primary, currentLSN: LSN(100), synchronousStandbyNames: "", standbys: [])
        var a = standby("s2", reply: "x"); a.sentLSN = LSN(100); a.flushLSN = LSN(90)
        var b = standby("s3", reply: "y"); b.sentLSN = LSN(100); b.flushLSN = LSN(100)
        s.standbys = [a, b]
        #expect(ReplicaDatabase.caughtUp(s) == [ServerID("s2"), ServerID("s3")])
        #expect(ReplicaDatabase.caughtUp(s, silent: ["s2"]) == [ServerID("s3")])
    }
}
