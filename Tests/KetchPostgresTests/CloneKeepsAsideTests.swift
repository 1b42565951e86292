import Foundation
import KetchCore
@testable import KetchNode
import KetchPostgres
import KetchShared
import Logging
import Testing

/// Reliability finding 21 (diskfull, seed 6005): every clone set the replaced copy aside and
/// none was ever deleted, so a server re-cloned five times in four minutes filled its 1 GiB
/// data filesystem and no copy on it could write WAL again. A clone now keeps the newest
/// `--keep-aside` replaced copies and deletes the older ones.
@Suite(.serialized) struct CloneKeepsAsideTests {
    @Test func aCloneLeavesOnlyTheNewestSetAsideCopies() async throws {
        try await withLab { lab in
            guard let (primary, _) = try await initialisedDatabase(lab, name: "asided", port: 25460, closedPort: 25461) else {
                Issue.record("the primary never initialised"); return
            }
            let (primaryDir, _) = try lab.server(1)
            // An old copy that must be replaced, and two older copies set aside by earlier clones.
            let older = ["asided.aside-20261204T191056.866Z", "asided.aside-20261204T191133.077Z"]
            let (db, reports, dir) = try await cloneOnServer2(lab, name: "asided", port: 25460, asideBefore: older, replication: lab.replication)
            let following = await eventually(within: 120) {
                await reports.has { if case .following(_, primary: ServerID("s1")) = $0 { true } else { false } }
            }
            let failures = await reports.failures
            #expect(following, "the clone did not finish: \(failures)")

            let aside = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("asided.aside-") }
            #expect(aside.count == 1, "set-aside copies left: \(aside.sorted())")
            #expect(aside.allSatisfy { !older.contains($0) }, "an older set-aside copy was kept: \(aside.sorted())")
            #expect(aside.allSatisfy { FileManager.default.fileExists(atPath: "\(dir)/\($0)/old-copy-marker") },
                    "the copy just replaced was not the one kept")
            #expect(FileManager.default.fileExists(atPath: "\(dir)/asided/PG_VERSION"))
            // The primary's own directory is not touched by a clone elsewhere.
            #expect(FileManager.default.fileExists(atPath: "\(primaryDir)/asided/PG_VERSION"))
            await db.shutdown()
            await primary.shutdown()
        }
    }

    /// Diskfull seed 6045: an in-sync member's clone failed (its source's disk was full) and left
    /// it with no copy at all; chosen to lead, it failed every promote for the rest of the run.
    /// A failed clone now puts the copy back, and deletes no older set-aside copy.
    @Test func aFailedCloneLeavesTheOldCopyInPlace() async throws {
        try await withLab { lab in
            guard let (primary, _) = try await initialisedDatabase(lab, name: "unclone", port: 25462, closedPort: 25463) else {
                Issue.record("the primary never initialised"); return
            }
            let older = "unclone.aside-20261204T191056.866Z"
            // The wrong replication password: the source is reachable and pg_basebackup fails.
            let (db, reports, dir) = try await cloneOnServer2(lab, name: "unclone", port: 25462, asideBefore: [older],
                                                              replication: ReplicationCredentials(password: "not-the-password"))
            let failed = await eventually(within: 120) { await !reports.failures.isEmpty }
            #expect(failed, "the clone with a wrong password did not fail")

            #expect(FileManager.default.fileExists(atPath: "\(dir)/unclone/old-copy-marker"), "the old copy was not put back")
            let aside = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("unclone.aside-") }
            #expect(aside == [older], "set-aside copies after a failed clone: \(aside.sorted())")
            await db.shutdown()
            await primary.shutdown()
        }
    }
}

/// Server 2's copy of replica `name` — an old copy holding `old-copy-marker`, and `asideBefore`
/// set aside by earlier clones — told to clone from the primary on server 1 (`port`), with
/// `--keep-aside 1`.
private func cloneOnServer2(_ lab: PostgresLab, name: String, port: Int, asideBefore: [String],
                            replication: ReplicationCredentials) async throws -> (ReplicaDatabase, DatabaseReports, String) {
    let (_, primaryHost) = try lab.server(1)
    let (dir, listen) = try lab.server(2)
    for copy in asideBefore + [name] {
        try FileManager.default.createDirectory(atPath: "\(dir)/\(copy)", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(dir)/\(copy)/PG_VERSION", contents: Data("15\n".utf8))
    }
    _ = FileManager.default.createFile(atPath: "\(dir)/\(name)/old-copy-marker", contents: Data())
    let spec = ReplicaSpec(name: name + "db", quorumGroupSize: 1,
                           dbConfig: .init(username: name + "user", password: "pw-\(UUID().uuidString.prefix(8))", port: port, closedPort: port + 1))
    let reports = DatabaseReports()
    let db = try ReplicaDatabase(replica: ReplicaID(name), spec: spec, me: ServerID("s2"), listenAddress: listen,
                                 ketchDataDirectory: dir, tools: lab.tools, replication: replication, keepAside: 1,
                                 logger: Logger(label: name + "-s2"), address: { [primaryHost] id in id == ServerID("s1") ? primaryHost : nil },
                                 report: { await reports.add($0) })
    lab.track(await db.instance)
    await db.start(resuming: false)
    db.performSoon(.clone(from: ServerID("s1")))
    return (db, reports, dir)
}
