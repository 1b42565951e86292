import Foundation
import KetchPostgres
import KetchShared
import Testing

/// Real Postgres 15 processes on 127.0.3.1-3, ports 25432-25439. Serialized: they share ports.
@Suite(.serialized) struct PostgresServerTests {
    @Test func aPrimaryStartsServesPasswordLoginsAndStops() async throws {
        try await withLab { lab in
            let port = 25432
            let primary = try lab.instance(server: 1)
            try await primary.initialize()
            let checksums = try String(contentsOfFile: primary.dataDirectory + "/PG_VERSION", encoding: .utf8)
            #expect(checksums.hasPrefix("15"))
            try primary.writeConfiguration(lab.settings(server: 1, port: port), replication: lab.replication)
            let pid = try await lab.start(primary)
            #expect(pid > 0)
            #expect(primary.postmaster()?.pid == pid)
            #expect(FileManager.default.fileExists(atPath: try lab.server(1).dataDirectory + "/.s.PGSQL.\(port)"))

            let admin = try await lab.admin(primary, port: port)
            #expect(try await admin.value("SELECT current_setting('data_checksums')") == "on")
            try await admin.createRole("myuser", password: "my'pass:word")
            try await admin.createRole("myuser", password: "my'pass:word")
            try await admin.createDatabase("mydb1", owner: "myuser")
            try await admin.createDatabase("mydb1", owner: "myuser")
            #expect(try await admin.status().role == .primary)

            let user = try await PGConnection.connect(ConnectionOptions(
                host: "127.0.3.1", port: port, user: "myuser", database: "mydb1", password: "my'pass:word"))
            #expect(try await user.value("SELECT current_user") == "myuser")
            try await user.query("CREATE TABLE t (id int PRIMARY KEY, note text)")
            try await user.query("INSERT INTO t VALUES ($1, $2), ($3, NULL)", ["1", "one's", "2"])
            let rows = try await user.query("SELECT id, note FROM t ORDER BY id").rows
            #expect(rows.map { $0["id"] } == ["1", "2"])
            #expect(rows.map { $0["note"] } == ["one's", nil])
            do {
                try await user.query("SELECT * FROM no_such_table")
                Issue.record("a bad query succeeded")
            } catch let error as PostgresError {
                #expect(error.code == .queryFailed)
                #expect(error.sqlState == "42P01")
            }
            #expect(try await user.value("SELECT 1") == "1")

            do {
                _ = try await PGConnection.connect(ConnectionOptions(
                    host: "127.0.3.1", port: port, user: "myuser", database: "mydb1", password: "wrong"))
                Issue.record("a wrong password was accepted")
            } catch let error as PostgresError {
                #expect(error.code == .connectFailed)
                #expect(error.message.contains("password authentication failed"))
            }
            await user.close()
            await admin.close()

            try await primary.stop(mode: .fast)
            #expect(primary.postmaster() == nil)
            try await lab.start(primary)
            let again = try await lab.admin(primary, port: port)
            #expect(try await again.value("SELECT count(*) FROM pg_database WHERE datname = 'mydb1'") == "1")
            await again.close()
            try await primary.stop(mode: .immediate)

            let log = try String(contentsOfFile: primary.logFile, encoding: .utf8)
            #expect(!log.contains("my'pass:word"))
            #expect(!log.contains(lab.replication.password))
        }
    }

    @Test func aStartOnATakenPortReportsPostgresErrorLine() async throws {
        try await withLab { lab in
            let port = 25433
            let blocker = try ListeningSocket(address: "127.0.3.1", port: port)
            defer { blocker.close() }
            let primary = try lab.instance(server: 1)
            try await primary.initialize()
            try primary.writeConfiguration(lab.settings(server: 1, port: port), replication: nil)
            do {
                try await lab.start(primary)
                Issue.record("Postgres started on a taken port")
            } catch let error as PostgresError {
                #expect(error.code == .startFailed)
                let line = try #require(error.postgresLine)
                #expect(line.contains("could not create any TCP/IP sockets"))
                #expect(line.contains("Address already in use"))
                #expect(error.message.contains(primary.logFile))
            }
            #expect(primary.postmaster()?.isAlive != true)
        }
    }

    @Test func aStandbyStreamsCommitsWaitForItThenItIsPromotedAndTheOldPrimaryRewound() async throws {
        try await withLab { lab in
            let port = 25434
            let first = try lab.instance(server: 1)
            let second = try lab.instance(server: 2)
            try await first.initialize()
            var firstSettings = lab.settings(server: 1, port: port)
            try first.writeConfiguration(firstSettings, replication: lab.replication)
            try await lab.start(first)
            let admin1 = try await lab.admin(first, port: port)
            try await admin1.createReplicationRole(lab.replication)
            try await admin1.createRole("myuser", password: "pw1")
            try await admin1.createDatabase("mydb1", owner: "myuser")
            let writer = try await PGConnection.connect(ConnectionOptions(host: "127.0.3.1", port: port, user: "myuser", database: "mydb1", password: "pw1"))
            try await writer.query("CREATE TABLE t (id int PRIMARY KEY, at text)")

            // Clone server 2 and see it streaming.
            let secondSettings = lab.settings(server: 2, port: port, upstream: (1, port))
            try await second.baseBackup(from: UpstreamServer(host: "127.0.3.1", port: port), replication: lab.replication, settings: secondSettings)
            #expect(FileManager.default.fileExists(atPath: second.dataDirectory + "/standby.signal"))
            let conf = try String(contentsOfFile: second.dataDirectory + "/ketch.conf", encoding: .utf8)
            #expect(conf.contains("listen_addresses = '127.0.3.2'"))
            #expect(!conf.contains(lab.replication.password))
            try await lab.start(second)
            try await waitUntil("server 2 streaming from server 1") {
                try await admin1.status().standby("s2")?.state == "streaming"
            }
            let admin2 = try await lab.admin(second, port: port)
            #expect(try await admin2.isInRecovery())

            // Named in synchronous_standby_names, server 2 is "sync" and commits go through.
            firstSettings.synchronousStandbys = .all(["s2"])
            try await first.apply(firstSettings, replication: lab.replication)
            try await waitUntil("server 2 reported as sync") {
                try await admin1.status().standby("s2")?.syncState == "sync"
            }
            try await writer.query("INSERT INTO t VALUES (1, 'sync')")
            let reader2 = try await PGConnection.connect(ConnectionOptions(host: "127.0.3.2", port: port, user: "myuser", database: "mydb1", password: "pw1"))
            try await waitUntil("row 1 replayed on server 2") {
                try await reader2.value("SELECT count(*) FROM t WHERE id = 1") == "1"
            }
            await reader2.close()
            let status = try await admin1.status()
            let standby = try #require(status.standby("s2"))
            #expect(standby.flushLSN != nil)
            #expect(standby.lagBytes != nil)
            #expect(status.postgresStatus(port: port).state == "primary")

            // Naming a standby that does not exist holds every commit; another session sees it wait.
            firstSettings.synchronousStandbys = .all(["s2", "s9"])
            try await first.apply(firstSettings, replication: lab.replication)
            try await waitUntil("the new synchronous_standby_names") {
                try await admin1.setting("synchronous_standby_names") == "FIRST 2 (\"s2\", \"s9\")"
            }
            let held = Task { try await writer.query("INSERT INTO t VALUES (2, 'held')") }
            try await waitUntil("the insert waiting for synchronous replication") {
                try await admin1.value("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") == "1"
            }
            writer.cancel()
            let cancelled = try await held.value
            #expect(cancelled.notices.contains { $0.contains("canceling wait for synchronous replication") })

            // Back to the real standby: commits flow again.
            firstSettings.synchronousStandbys = .all(["s2"])
            try await first.apply(firstSettings, replication: lab.replication)
            try await waitUntil("commits flowing again") {
                try await admin1.setting("synchronous_standby_names") == "FIRST 1 (\"s2\")"
            }
            let flowing = try await writer.query("INSERT INTO t VALUES (3, 'flowing')")
            #expect(flowing.notices.isEmpty)

            // Promote server 2; server 1 keeps running alone and takes a write server 2 never sees.
            try await second.promote()
            #expect(try await admin2.isInRecovery() == false)
            try await admin2.query("CREATE TABLE promoted (id int)")
            firstSettings.synchronousStandbys = .none
            try await first.apply(firstSettings, replication: lab.replication)
            try await waitUntil("server 1 no longer waiting for a standby") {
                try await admin1.setting("synchronous_standby_names") == ""
            }
            try await writer.query("INSERT INTO t VALUES (4, 'diverged')")
            await writer.close()
            await admin1.close()

            // Rewind server 1 onto server 2's timeline and let it follow server 2.
            try await first.stop(mode: .fast)
            firstSettings.upstream = UpstreamServer(host: "127.0.3.2", port: port)
            try await first.rewind(from: UpstreamServer(host: "127.0.3.2", port: port), replication: lab.replication, settings: firstSettings)
            try await lab.start(first)
            try await waitUntil("server 1 streaming from server 2") {
                try await admin2.status().standby("s1")?.state == "streaming"
            }
            let writer2 = try await PGConnection.connect(ConnectionOptions(host: "127.0.3.2", port: port, user: "myuser", database: "mydb1", password: "pw1"))
            try await writer2.query("INSERT INTO t VALUES (5, 'after failover')")
            let reader1 = try await PGConnection.connect(ConnectionOptions(host: "127.0.3.1", port: port, user: "myuser", database: "mydb1", password: "pw1"))
            try await waitUntil("row 5 on server 1") {
                try await reader1.value("SELECT count(*) FROM t WHERE id = 5") == "1"
            }
            let ids = try await reader1.query("SELECT id FROM t ORDER BY id").rows.compactMap { $0["id"] }
            #expect(ids == ["1", "2", "3", "5"])
            #expect(try await reader1.isInRecovery())
            do {
                try await reader1.query("INSERT INTO t VALUES (6, 'on a standby')")
                Issue.record("a standby accepted a write")
            } catch let error as PostgresError {
                #expect(error.sqlState == "25006")
            }
            let secondStatus = try await admin2.status()
            #expect(secondStatus.role == .primary)
            #expect((secondStatus.timeline ?? 0) >= 2)
            await reader1.close()
            await writer2.close()
            await admin2.close()

            // Replacing a copy never deletes it.
            try await first.stop(mode: .fast)
            let aside = try first.setAside()
            #expect(FileManager.default.fileExists(atPath: aside + "/PG_VERSION"))
            #expect(!FileManager.default.fileExists(atPath: first.dataDirectory))
        }
    }
}

/// A TCP listener that holds a port so Postgres cannot bind it.
final class ListeningSocket {
    private var fd: Int32

    init(address: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LabError("socket() failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &sin.sin_addr)
        let bound = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            Foundation.close(fd)
            throw LabError("cannot listen on \(address):\(port): \(String(cString: strerror(errno)))")
        }
    }

    func close() {
        if fd >= 0 { Foundation.close(fd) }
        fd = -1
    }
}
