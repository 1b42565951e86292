import Foundation
import Testing
import KetchShared
import KetchWire
#if canImport(Glibc)
import Glibc
#endif

/// `closedPort`, and Postgres that cannot start: real nodes, real Postgres 15 (ports 17300-17343).
@Suite(.serialized) struct PostgresClosedPortTests {
    let helper = PostgresFailoverTests()

    func listens(_ host: String, _ port: Int) -> Bool { (try? RawSocket(host: host, port: port)) != nil }

    @Test func aPrimaryThatLostItsLeaseIsParkedOnClosedPortAndLeavesItWhenItServesAgain() async throws {
        let (c, sql) = try await helper.bringUp(portBase: 17_300, dbPort: 17_332)
        defer { c.stop() }
        guard let primary = await helper.openPrimary(c, "itdb", among: [0, 1, 2, 3]) else { Issue.record("no open primary"); return }
        let host = c.address(primary)
        #expect(listens(host, 17_332) && !listens(host, 17_333), "an open primary serves on its port only")
        #expect(sql.run("INSERT INTO ketch_writes VALUES (1)") != nil)
        // The whole group is in place first: both other members stream as standbys.
        let others = (0..<4).filter { $0 != primary }
        let settled = await eventually(within: 120, every: 0.5) {
            var standbys = 0
            for i in others where await c.get(.dbmgr, from: i)?.data.first?.attributes["state"] == .string("standby") { standbys += 1 }
            return standbys == 2
        }
        #expect(settled, "the group never had two streaming standbys:\n\(c.logs())")

        // Every other node stops answering: the primary cannot renew its lease, is fenced, and
        // is parked on closedPort: refused on the service port, readable (not writable) on closedPort.
        for i in others { c.node(i).signal(SIGSTOP) }
        defer { for i in others { c.node(i).signal(SIGCONT) } }
        let parked = await eventually(within: 20, every: 0.1) { !listens(host, 17_332) && listens(host, 17_333) }
        #expect(parked, "the fenced primary did not move to closedPort:\n\(c.logs())")
        let onClosedPort = SQLClient(conninfo: "host=\(host) port=17333 user=ituser dbname=itdb connect_timeout=1", password: PostgresFailoverTests.password)
        #expect(await eventually(within: 10, every: 0.2) { onClosedPort.run("SELECT count(*) FROM ketch_writes") == "1" },
                "a parked copy should be readable on closedPort for inspection")
        #expect(onClosedPort.run("INSERT INTO ketch_writes VALUES (2)") == nil, "a parked copy accepted a write")
        // The status is refreshed by the node's periodic poll (at least every second).
        let reported = await eventually(within: 5, every: 0.2) {
            await c.get(.dbmgr, from: primary)?.data.first?.attributes["port"] == .int(17_333)
        }
        let dbmgr = await c.get(.dbmgr, from: primary)?.data.first?.attributes
        #expect(reported, "get dbmgr shows the port Postgres listens on: \(String(describing: dbmgr))")

        // The cluster comes back: writes resume through the multi-host string, and the
        // ex-primary serves (as primary or standby) on the service port again.
        for i in others { c.node(i).signal(SIGCONT) }
        #expect(await eventually(within: 60, every: 0.2) { sql.run("INSERT INTO ketch_writes VALUES (3)") != nil }, "no writes after the cluster came back:\n\(c.logs())")
        #expect(await eventually(within: 60, every: 0.2) { listens(host, 17_332) && !listens(host, 17_333) },
                "the ex-primary did not leave closedPort:\n\(c.logs())")
    }

    @Test func postgresThatCannotStartIsReportedWithItsErrorLineAndTheNodeStaysUp() async throws {
        let c = try LocalCluster(portBase: 17_310)
        defer { c.stop() }
        // Something else already listens on the database's port at server1's address.
        let squatter = try Listener(host: c.address(0), port: 17_342)
        defer { squatter.close() }
        try c.startAll()
        let up = await eventually(within: 15) {
            await c.get(.server, from: 0)?.data.filter { $0.attributes["health"] == .string("alive") }.count == 4
        }
        #expect(up, "cluster did not converge:\n\(c.logs())")
        let created = try helper.ctl(c, 0, ["create", "replica", "-f", "-"], stdin: helper.spec("itdb", port: 17_342))
        #expect(created.status == 0, "create failed: \(created.stderr)")

        var error: String?
        let reported = await eventually(within: 120, every: 0.5) {
            guard let attrs = await c.get(.dbmgr, from: 0)?.data.first?.attributes,
                  attrs["state"] == .string("failed"), case .string(let e)? = attrs["error"] else { return false }
            error = e
            return true
        }
        #expect(reported, "get dbmgr never showed the failure:\n\(c.logs())")
        #expect(error?.contains("Address already in use") == true, "get dbmgr error without Postgres's line: \(error ?? "nil")")
        #expect(c.node(0).log.contains("Address already in use"), "the node log lacks Postgres's error line")

        // The feed's snapshot carries it as a Postgres event.
        let client = try await APIClient.connect(to: Endpoint(addr: c.address(0), port: c.apiPort), secret: try c.secret(), timeout: .seconds(2))
        var events: [ClusterEvent] = []
        for try await message in client.subscribe() {
            if case .snapshot(_, let status) = message { events = status.events; break }
        }
        await client.close()
        #expect(events.contains { $0.kind == .postgres && $0.text.contains("Address already in use") }, "feed events: \(events.map(\.text))")

        // The node stays up and answers.
        #expect(c.node(0).isRunning)
        #expect(await c.get(.server, from: 0) != nil)
    }
}

/// `host:port` (dotted IPv4) as a socket address.
func ipv4SocketAddress(_ host: String, _ port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, host, &addr.sin_addr)
    return addr
}

/// A TCP listener that holds a port for the length of a test.
final class Listener {
    let fd: Int32

    init(host: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = ipv4SocketAddress(host, port)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0, listen(fd, 8) == 0 else { Glibc.close(fd); throw TestFailure("cannot listen on \(host):\(port): errno \(errno)") }
    }

    func close() { Glibc.close(fd) }
}
