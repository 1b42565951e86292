import Foundation
@testable import KetchNode
import KetchPostgres
import KetchShared
import Testing

/// Clock seed 6011: two copies promoted to the same next timeline number from different points
/// (a restarted primary re-asserting its epoch, and the next epoch's leader), and a standby that
/// had replayed the first one's timeline was re-pointed by a reload at the second. Postgres
/// compares timeline numbers only, so it streamed; its walreceiver reported its own replay
/// position — on the other branch, ahead of the new primary — as flushed, and the new primary's
/// Step 5 counted it caught up at once. Commits were acknowledged on a standby that could never
/// replay them, and when it led the next epoch its promotion PANICked for four minutes.
@Suite(.serialized) struct CaughtUpOnOurWALTests {
    @Test func aStandbyFromAnotherBranchOfTheSameTimelineIsNotCaughtUp() async throws {
        try await withLab { lab in
            let port = 25470
            let (first, second, third) = try await serverThreeOnServerTwosTimeline(lab, port: port)
            try await second.stop(mode: .immediate)
            // Server 2 is gone: what server 3 replayed of it is final.
            let admin3 = try await lab.admin(third, port: port)
            let replayedOnThird = try #require(try await admin3.status().replayLSN)

            // Server 1, which never saw server 2's timeline 2, is promoted from standby mode: it
            // picks timeline 2 too, a different one. Server 3 is re-pointed at it by a reload.
            try first.setStandbySignal(true)
            try await lab.start(first)
            try await first.promote()
            let admin1 = try await lab.admin(first, port: port)
            // The checkpoint's timeline moves to 2 with the checkpoint after the promote (a
            // moment on a loaded machine).
            #expect(await eventually(within: 30) { (try? await admin1.status().timeline) == 2 })
            let firstStatus = try await admin1.status()
            let firstEnd = try #require(firstStatus.currentLSN)
            #expect(firstEnd < replayedOnThird, "server 1 (\(firstEnd)) is not behind what server 3 replayed (\(replayedOnThird))")
            try await third.apply(lab.settings(server: 3, port: port, upstream: (1, port)), replication: lab.replication)

            // Server 3 streams "timeline 2" from server 1 and claims a flush past server 1's WAL;
            // it must never count as caught up.
            var sawStreaming = false, counted: [String] = []
            let clock = ContinuousClock(), start = clock.now
            while clock.now - start < .seconds(8) {
                let s = try await admin1.status()
                if let r = s.standby("s3"), r.state == "streaming" { sawStreaming = true }
                if ReplicaDatabase.caughtUp(s).contains(ServerID("s3")) {
                    let r = s.standby("s3")
                    counted.append("current \(s.currentLSN.map { "\($0)" } ?? "-") sent \(r?.sentLSN.map { "\($0)" } ?? "-") flushed \(r?.flushLSN.map { "\($0)" } ?? "-")")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(sawStreaming, "server 3 never streamed from server 1: the scenario did not happen")
            let timesCounted = counted.count
            #expect(timesCounted == 0, "a standby of another branch counted as caught up; first: \(counted.first ?? "")")
            // And server 3 itself can tell: it replayed past the end of WAL server 1 reports, so
            // its node clones it instead of reporting it a standby of server 1 again.
            var past: (replayed: LSN, upstreamEnd: LSN)?
            _ = try await waitUntil("server 3 sees it replayed past server 1's end of WAL") {
                past = try await admin3.replayedPastUpstream(host: "127.0.3.1")
                return past != nil
            }
            #expect(past?.replayed == replayedOnThird)
            #expect(try await admin3.replayedPastUpstream(host: "127.0.3.2") == nil, "asked about a server it does not stream from")

            // A real standby of server 1 still counts.
            let fourth = try lab.instance(server: 4)
            try await fourth.baseBackup(from: UpstreamServer(host: "127.0.3.1", port: port), replication: lab.replication,
                                        settings: lab.settings(server: 4, port: port, upstream: (1, port)))
            try await lab.start(fourth)
            try await waitUntil("server 4 caught up with server 1") {
                ReplicaDatabase.caughtUp(try await admin1.status()).contains(ServerID("s4"))
            }
            let admin4 = try await lab.admin(fourth, port: port)
            #expect(try await admin4.replayedPastUpstream(host: "127.0.3.1") == nil, "a real standby of server 1 taken for another branch's")
            await admin4.close()
            await admin1.close()
            await admin3.close()
        }
    }
}

/// Server 1 primary with standbys 2 and 3; server 1 stops cleanly (both standbys have all of its
/// WAL), server 2 is promoted to timeline 2, and server 3 follows it and replays half a megabyte
/// of server 2's writes. Server 1 never saw that timeline: promoted later, it picks a timeline 2
/// of its own, from another point.
func serverThreeOnServerTwosTimeline(_ lab: PostgresLab, port: Int) async throws -> (PostgresInstance, PostgresInstance, PostgresInstance) {
    let first = try lab.instance(server: 1)
    let second = try lab.instance(server: 2)
    let third = try lab.instance(server: 3)
    try await first.initialize()
    try first.writeConfiguration(lab.settings(server: 1, port: port), replication: lab.replication)
    try await lab.start(first)
    let admin1 = try await lab.admin(first, port: port)
    try await admin1.createReplicationRole(lab.replication)
    try await admin1.query("CREATE TABLE t (id int PRIMARY KEY, pad text)")
    for (instance, n) in [(second, 2), (third, 3)] {
        try await instance.baseBackup(from: UpstreamServer(host: "127.0.3.1", port: port), replication: lab.replication,
                                      settings: lab.settings(server: n, port: port, upstream: (1, port)))
        try await lab.start(instance)
    }
    _ = try await waitUntil("servers 2 and 3 streaming from server 1") {
        let s = try await admin1.status()
        return s.standby("s2")?.state == "streaming" && s.standby("s3")?.state == "streaming"
    }
    await admin1.close()
    try await first.stop(mode: .fast)
    try await second.promote()
    try await third.apply(lab.settings(server: 3, port: port, upstream: (2, port)), replication: lab.replication)
    let admin2 = try await lab.admin(second, port: port)
    try await admin2.query("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g")
    let admin3 = try await lab.admin(third, port: port)
    _ = try await waitUntil("server 3 replaying server 2's timeline 2") {
        let end = try await admin2.status().currentLSN, replayed = try await admin3.status().replayLSN
        return end != nil && replayed != nil && replayed! >= end!
    }
    await admin2.close()
    await admin3.close()
    return (first, second, third)
}
