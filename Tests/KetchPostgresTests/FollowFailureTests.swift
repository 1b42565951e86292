import Foundation
import KetchPostgres
import KetchShared
import Testing

/// Reliability finding 13: a standby whose upstream no longer has the WAL it asks for looped for
/// two minutes — wait 10 s, "rewind" (which cannot bring WAL the source lacks), start, report
/// following, be told to follow again. The node now reads Postgres's line and clones instead.
struct FollowFailureTests {
    func instanceWithLog(_ lines: [String]) throws -> (PostgresInstance, String) {
        let dir = "/tmp/kff-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        let instance = try PostgresInstance(ketchDataDirectory: dir, replica: ReplicaID("r1"))
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: instance.logFile))
        return (instance, dir)
    }

    /// Lines after which only a clone makes the copy a standby again. Finding 13: the upstream
    /// removed the segment this copy asks for. Finding 22 (partition seed 6022): both sides of a
    /// partition promoted to timeline 19 from different points, so the copy that must follow is
    /// ahead on "the same" timeline and pg_rewind finds nothing to do.
    @Test(arguments: [
        (["2026-11-27 19:38:42.321 UTC [4777] LOG:  started streaming WAL from primary at 0/14000000 on timeline 27",
          "2026-11-27 19:38:42.327 UTC [4777] FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 0000001B0000000000000014 has already been removed"],
         "0000001B0000000000000014 has already been removed"),
        (["2026-12-04 19:49:01.601 UTC [32693] LOG:  started streaming WAL from primary at 0/11000000 on timeline 19",
          "2026-12-04 19:49:01.601 UTC [32693] FATAL:  could not receive data from WAL stream: ERROR:  requested starting point 0/11000000 is ahead of the WAL flush position of this server 0/F06F628"],
         "is ahead of the WAL flush position of this server 0/F06F628"),
    ])
    func aLineOnlyACloneCanFixIsRead(lines: [String], expected: String) throws {
        let (instance, dir) = try instanceWithLog(lines)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let line = try #require(instance.upstreamLacksWALLine(since: 0))
        #expect(line.contains(expected))
        // It also ends the wait for streaming at once.
        #expect(instance.cannotFollowLine(since: 0) == line)
    }

    /// Clock seed 6011, server4 at 19:23:02.226: a copy that replayed a timeline its new primary
    /// never had. Waiting 10 s never changes that; it ends the wait at once (and is rewound).
    @Test func aPrimaryBehindTheRecoveryTimelineCannotBeFollowed() throws {
        let (instance, dir) = try instanceWithLog([
            "2026-12-04 19:23:02.226 UTC [6117] FATAL:  highest timeline 10 of the primary is behind recovery timeline 12",
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(instance.cannotFollowLine(since: 0)?.contains("behind recovery timeline 12") == true)
        #expect(instance.upstreamLacksWALLine(since: 0) == nil)
    }

    @Test func aForkedTimelineIsNotReadAsMissingWAL() throws {
        let (instance, dir) = try instanceWithLog([
            "2026-11-27 19:38:42.321 UTC [4777] FATAL:  could not start WAL streaming: ERROR:  requested starting point 0/14000000 on timeline 27 is not in this server's history",
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(instance.upstreamLacksWALLine(since: 0) == nil)
        #expect(instance.cannotFollowLine(since: 0) != nil)
    }
}
