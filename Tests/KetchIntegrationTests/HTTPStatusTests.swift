import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP status port (issue 17, part 1): health checks a load balancer can use, and
/// `/metrics` for Prometheus. Real nodes and Postgres, Debian's `promtool` and `haproxy`
/// (ports 17430-17435 for the nodes, 17560 for the database, 17565 for HAProxy).
@Suite(.serialized) struct HTTPStatusTests {
    let helper = PostgresFailoverTests()

    /// One HTTP/1.1 request over a plain socket: (status, body), or nil when nothing answered.
    static func get(_ host: String, _ port: Int, _ path: String, method: String = "GET") -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = ipv4SocketAddress(host, port)
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        let request = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\r\n", maxSplits: 1).first, line.hasPrefix("HTTP/1."),
              let status = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    func status(_ c: LocalCluster, _ i: Int, _ path: String) -> Int? { Self.get(c.address(i), c.httpPort, path)?.status }

    /// The servers that answer 200 on `path`.
    func answering(_ c: LocalCluster, _ path: String, among: [Int]? = nil) -> [Int] {
        (among ?? Array(0..<c.count)).filter { status(c, $0, path) == 200 }
    }

    /// Four converged nodes and one database created on server1 that has taken a write; nil
    /// (with the reason recorded) otherwise.
    func clusterWithDatabase(portBase: Int, db: String, port: Int) async throws -> LocalCluster? {
        let c = try LocalCluster(portBase: portBase)
        try c.startAll()
        guard await c.converged() else { Issue.record("cluster did not converge:\n\(c.logs())"); c.shutdown(); return nil }
        let created = try helper.ctl(c, 0, ["create", "replica", "-f", "-"], stdin: helper.spec(db, port: port))
        guard created.status == 0 else { Issue.record("create failed: \(created.stderr)"); c.shutdown(); return nil }
        let sql = helper.client(c, db: db, port: port)
        guard await eventually(within: 120, every: 0.5, { sql.run("CREATE TABLE IF NOT EXISTS ketch_writes(id int PRIMARY KEY)") != nil }) else {
            Issue.record("the database never took a write:\n\(c.logs())"); c.shutdown(); return nil
        }
        return c
    }

    @Test func healthChecksFollowThePrimaryAndMetricsPassPromtool() async throws {
        let promtool = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: promtool) else {
            Issue.record("promtool is missing (Debian package prometheus): scripts/test installs it; apt-get install prometheus"); return
        }
        let db = "httpdb", port = 17_560
        guard let c = try await clusterWithDatabase(portBase: 17_430, db: db, port: port) else { return }
        defer { c.shutdown() }
        #expect((0..<c.count).allSatisfy { self.status(c, $0, "/health") == 200 }, "not every node answered /health")

        // Exactly one server says primary, and it is the one clients write to.
        var primaries: [Int] = []
        #expect(await eventually(within: 30, every: 0.2) { primaries = self.answering(c, "/primary/\(db)"); return primaries.count == 1 },
                "not exactly one /primary: \(primaries); \((0..<c.count).map { Self.get(c.address($0), c.httpPort, "/primary/\(db)")?.body ?? "no answer" })")
        guard let primary = primaries.first else { return }
        let others = (0..<c.count).filter { $0 != primary }
        for i in others { #expect(status(c, i, "/primary/\(db)") != 200) }
        // Its standbys stream: /replica answers 200 on two of them, /sync on its synchronous one.
        #expect(await eventually(within: 120, every: 0.5) { self.answering(c, "/replica/\(db)", among: others).count == 2 },
                "two standbys never answered /replica/\(db)")
        #expect(await eventually(within: 30, every: 0.5) { self.answering(c, "/sync/\(db)", among: others).count >= 1 },
                "no standby answered /sync/\(db)")
        #expect(status(c, primary, "/replica/\(db)") == 503, "the primary must not answer /replica")
        let view = Self.get(c.address(primary), c.httpPort, "/\(db)")
        #expect(view?.status == 200 && view?.body.contains("\"role\":\"primary\"") == true, "/\(db) on the primary: \(String(describing: view))")

        // Bad requests get a status and a reason; nothing crashes.
        #expect(status(c, primary, "/nosuch/thing/here") == 404)
        #expect(status(c, primary, "/primary/nosuchdb") == 404)
        #expect(status(c, primary, "/replica/\(db)?lag=lots") == 400)
        #expect(Self.get(c.address(primary), c.httpPort, "/health", method: "POST")?.status == 405)
        #expect(Self.get(c.address(primary), c.httpPort, "/" + String(repeating: "x", count: 20_000))?.status ?? 400 >= 400)
        #expect(status(c, primary, "/health") == 200, "the node stopped answering after bad requests")

        // /metrics is valid Prometheus text (promtool) and counts a failover on the new primary.
        let before = Self.get(c.address(primary), c.httpPort, "/metrics")?.body ?? ""
        let lint = try runCommand(promtool, ["check", "metrics"], stdin: before)
        #expect(lint.status == 0, "promtool check metrics: \(lint.stdout)\(lint.stderr)")
        #expect(before.contains("ketch_replica_serving{server=\"\(c.address(primary))\",db=\"\(db)\"} 1"), "metrics of the primary:\n\(before)")

        _ = c.crash(primary)
        var next: [Int] = []
        #expect(await eventually(within: 60, every: 0.2) { next = self.answering(c, "/primary/\(db)", among: others); return next.count == 1 },
                "no survivor answered /primary/\(db) after the kill:\n\(c.logs())")
        guard let newPrimary = next.first else { return }
        let after = Self.get(c.address(newPrimary), c.httpPort, "/metrics")?.body ?? ""
        let started = after.split(separator: "\n").first { $0.hasPrefix("ketch_replica_epochs_started_total{") && $0.contains("db=\"\(db)\"") }
        #expect(started.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0 >= 1, "the new primary's metrics show no epoch started: \(String(describing: started))")
        let lintAfter = try runCommand(promtool, ["check", "metrics"], stdin: after)
        #expect(lintAfter.status == 0, "promtool check metrics after the failover: \(lintAfter.stdout)\(lintAfter.stderr)")
    }

    /// Real HAProxy with `option httpchk GET /primary/DB` in front of the four servers: a writer
    /// that knows only HAProxy's address keeps writing across kill -9 of the primary, and
    /// nothing acknowledged is lost.
    @Test func aWriterThroughHAProxyKeepsWritingAcrossAKill() async throws {
        let haproxy = "/usr/sbin/haproxy"
        guard FileManager.default.isExecutableFile(atPath: haproxy) else {
            Issue.record("haproxy is missing (Debian package haproxy): scripts/test installs it; apt-get install haproxy"); return
        }
        let db = "hapdb", port = 17_570, front = 17_575
        guard let c = try await clusterWithDatabase(portBase: 17_440, db: db, port: port) else { return }
        defer { c.shutdown() }
        let direct = helper.client(c, db: db, port: port)

        let servers = (0..<c.count).map { "  server server\($0 + 1) \(c.address($0)):\(port) check port \(c.httpPort)" }.joined(separator: "\n")
        let config = """
            global
              maxconn 200
            defaults
              mode tcp
              timeout connect 1s
              timeout client 60s
              timeout server 60s
            listen \(db)
              bind 127.0.2.1:\(front)
              option httpchk GET /primary/\(db)
              http-check expect status 200
              default-server inter 200ms fastinter 100ms downinter 200ms fall 2 rise 1 on-marked-down shutdown-sessions
            \(servers)
            """
        let cfg = c.dir.path + "/haproxy.cfg"
        try (config + "\n").write(toFile: cfg, atomically: true, encoding: .utf8)
        let check = try runCommand(haproxy, ["-c", "-f", cfg])
        // The example shipped for the demo cluster is valid too.
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/haproxy.cfg").path
        let exampleCheck = try runCommand(haproxy, ["-c", "-f", example])
        #expect(exampleCheck.status == 0, "haproxy -c -f examples/haproxy.cfg: \(exampleCheck.stderr)")
        #expect(check.status == 0, "haproxy -c: \(check.stdout)\(check.stderr.replacingOccurrences(of: "\n", with: " | "))\n\(config)")
        let proxy = try TestProcess(haproxy, ["-db", "-f", cfg], log: c.dir.path + "/haproxy.log")
        defer { proxy.kill9() }

        let through = SQLClient(conninfo: "host=127.0.2.1 port=\(front) user=ituser dbname=\(db) connect_timeout=1", password: PostgresFailoverTests.password)
        #expect(await eventually(within: 30, every: 0.2) { through.run("SELECT 1") == "1" }, "HAProxy never reached the primary")
        let writer = RecordingWriter(client: through, pause: 0.1, retryPause: 0.1)
        writer.start()
        defer { writer.stop() }
        #expect(await eventually(within: 30) { writer.ackCount >= 10 }, "no writes through HAProxy")

        var primary: Int?
        _ = await eventually(within: 10, every: 0.2) { primary = (0..<c.count).first { self.status(c, $0, "/primary/\(db)") == 200 }; return primary != nil }
        guard let victim = primary else { Issue.record("no server answered /primary/\(db)"); return }
        let (killedAt, _) = c.crash(victim)
        var firstAck: Double?
        _ = await eventually(within: 60, every: 0.05) {
            firstAck = writer.firstAck(startedAfter: killedAt).map { $0.timeIntervalSince(killedAt) }
            return firstAck != nil
        }
        let acksAtFirst = writer.ackCount
        #expect(await eventually(within: 30) { writer.ackCount >= acksAtFirst + 10 }, "writes through HAProxy did not go on after the failover")
        print("haproxy: first write acknowledged through HAProxy \(firstAck.map { String(format: "%.2f s", $0) } ?? "never") after kill -9 of server\(victim + 1)")
        #expect(firstAck != nil, "no write through HAProxy after the kill:\n\(c.logs())")
        writer.stop()
        let acked = Set(writer.acknowledgedIDs)
        let stored = await helper.storedIDs(direct)
        #expect(stored != nil, "the table could not be read after the failover")
        let lost = acked.subtracting(stored ?? [])
        #expect(lost.isEmpty, "acknowledged writes lost through HAProxy: \(lost.sorted().prefix(20))")
        print("haproxy: acknowledged \(acked.count), lost \(lost.count)")
    }
}
