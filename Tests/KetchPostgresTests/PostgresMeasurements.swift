import Foundation
import KetchPostgres
import KetchShared
import Testing

/// Timings that decide how the node fences and opens a primary (docs/postgres.md). They run
/// in the same serialized suite as the other server tests so they never share the CPU with
/// them, and print the median of each on a `MEASURE` line. One round by default, which also
/// exercises promote, the write gate and restarts; `KETCH_MEASURE_ROUNDS=3` for the numbers
/// in the docs.
extension PostgresServerTests {
    @Test func measureFailoverBuildingBlocks() async throws {
        try await withLab { lab in
            let port = 25436
            let rounds = max(1, Int(ProcessInfo.processInfo.environment["KETCH_MEASURE_ROUNDS"] ?? "") ?? 1)
            let clock = ContinuousClock()
            var samples: [String: [Double]] = [:]
            func record(_ name: String, _ duration: Duration) { samples[name, default: []].append(duration.milliseconds) }

            let primary = try lab.instance(server: 1, replica: "m")
            try await primary.initialize()
            var primarySettings = lab.settings(server: 1, port: port)
            try primary.writeConfiguration(primarySettings, replication: lab.replication)
            try await lab.start(primary)
            let admin = try await lab.admin(primary, port: port)
            try await admin.createReplicationRole(lab.replication)
            try await admin.query("CREATE TABLE big (id int, note text)")
            let source = UpstreamServer(host: "127.0.3.1", port: port)

            for round in 0..<rounds {
                // Promotion: pg_ctl promote on one fresh standby, pg_promote() on another.
                let viaCtl = try lab.instance(server: 2, replica: "p\(round)")
                let viaSQL = try lab.instance(server: 3, replica: "q\(round)")
                for (n, standby) in [(2, viaCtl), (3, viaSQL)] {
                    try await standby.baseBackup(from: source, replication: lab.replication,
                                                 settings: lab.settings(server: n, port: port, upstream: (1, port)))
                    try await lab.start(standby)
                }
                try await waitUntil("both standbys streaming") {
                    let status = try await admin.status()
                    return status.standby("s2")?.state == "streaming" && status.standby("s3")?.state == "streaming"
                }
                let ctlSession = try await lab.admin(viaCtl, port: port)
                let sqlSession = try await lab.admin(viaSQL, port: port)
                var started = clock.now
                try await viaCtl.promote()
                record("promote: pg_ctl promote --wait returns", clock.now - started)
                try await ctlSession.query("CREATE TABLE IF NOT EXISTS promoted (id int)")
                record("promote: pg_ctl promote until a write commits", clock.now - started)
                started = clock.now
                try await sqlSession.promote(waitSeconds: 60)
                record("promote: SELECT pg_promote() returns", clock.now - started)
                try await sqlSession.query("CREATE TABLE IF NOT EXISTS promoted (id int)")
                record("promote: pg_promote() until a write commits", clock.now - started)
                await ctlSession.close()
                await sqlSession.close()
                try await viaCtl.stop(mode: .immediate)
                try await viaSQL.stop(mode: .immediate)
            }

            // synchronous_standby_names: hold writes, then release a waiting commit.
            let standby = try lab.instance(server: 2, replica: "m")
            let standbySettings = lab.settings(server: 2, port: port, upstream: (1, port))
            try await standby.baseBackup(from: source, replication: lab.replication, settings: standbySettings)
            try await lab.start(standby)
            primarySettings.synchronousStandbys = .all(["s2"])
            try await primary.apply(primarySettings, replication: lab.replication)
            try await waitUntil("s2 sync") { try await admin.status().standby("s2")?.syncState == "sync" }
            let writer = try await lab.admin(primary, port: port)
            for round in 0..<(2 * rounds) {
                primarySettings.synchronousStandbys = .holdWrites
                var started = clock.now
                try await primary.apply(primarySettings, replication: lab.replication)
                record("sync names: write + pg_ctl reload returns", clock.now - started)
                try await waitUntil("s2 no longer sync") { try await admin.status().standby("s2")?.syncState != "sync" }
                record("sync names: hold until the standby is no longer 'sync'", clock.now - started)
                let held = Task { try await writer.query("INSERT INTO big VALUES (\(round), 'held')") }
                try await waitUntil("a held commit") {
                    try await admin.value("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") == "1"
                }
                primarySettings.synchronousStandbys = .all(["s2"])
                started = clock.now
                try await primary.apply(primarySettings, replication: lab.replication)
                if round % 2 == 0 {
                    _ = try await held.value
                    record("sync names: release a held commit (reload)", clock.now - started)
                } else {
                    try await admin.nudgeStandbys()
                    _ = try await held.value
                    record("sync names: release a held commit (reload + nudge)", clock.now - started)
                }
            }
            await writer.close()
            // The standby keeps following the old port below: stop waiting for it.
            primarySettings.synchronousStandbys = .none
            try await primary.apply(primarySettings, replication: lab.replication)

            // Restarts, with some dirty data so a fast shutdown has a checkpoint to write.
            await admin.close()
            var otherPort = port + 1
            for _ in 0..<rounds {
                let before = try await lab.admin(primary, port: primarySettings.port)
                try await before.query("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 50000) g")
                await before.close()
                var started = clock.now
                try await primary.stop(mode: .fast)
                primarySettings.port = otherPort
                try primary.writeConfiguration(primarySettings, replication: lab.replication)
                try await lab.start(primary)
                record("restart: stop fast + start on another port", clock.now - started)
                otherPort = otherPort == port ? port + 1 : port

                let session = try await lab.admin(primary, port: primarySettings.port)
                try await session.query("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 50000) g")
                await session.close()
                started = clock.now
                try await primary.stop(mode: .immediate)
                try await lab.start(primary)
                record("restart: stop immediate + start (crash recovery)", clock.now - started)
            }

            // The standby follows the primary's current port.
            var following = standbySettings
            following.upstream = UpstreamServer(host: "127.0.3.1", port: primarySettings.port)
            try standby.writeConfiguration(following, replication: lab.replication)
            let primaryAdmin = try await lab.admin(primary, port: primarySettings.port)
            for _ in 0..<rounds {
                let started = clock.now
                try await standby.stop(mode: .fast)
                try await lab.start(standby)
                record("standby: stop fast + start until ready", clock.now - started)
                try await waitUntil("s2 streaming again") {
                    try await primaryAdmin.status().standby("s2")?.state == "streaming"
                }
                record("standby: stop fast + start until streaming", clock.now - started)
            }
            await primaryAdmin.close()

            for name in samples.keys.sorted() {
                let values = samples[name]!.sorted()
                let median = values[values.count / 2]
                print(String(format: "MEASURE %-55@ median %7.0f ms  (min %5.0f, max %5.0f, n=%d)",
                             name as NSString, median, values.first!, values.last!, values.count))
                #expect(median < 60_000, "\(name) took \(median) ms")
            }
        }
    }
}
