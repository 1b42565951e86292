import Foundation
import KetchCore
@testable import KetchNode
import KetchPostgres
import KetchShared
import Testing

/// Issue 15, bug 5: "closed" was advisory inside Postgres. A closed copy that is not in recovery
/// (a primary before Step 9, a fenced one) let clients log in, and any session could turn
/// `default_transaction_read_only` off and `synchronous_commit` to `local` and have a commit
/// acknowledged that no standby holds. Now such a copy refuses client logins (the node over
/// the socket and the replication role still get in), and a fence ends the sessions and waits
/// until they are gone. Real Postgres 15, ports 25470-25471.
@Suite(.serialized) struct ClosedCopySessionsTests {

    /// What a client could do with a session on a copy: commit a row despite "closed".
    /// Returns nil when the commit was refused (or the session is gone), else the error-free result.
    func commitDespiteClosed(_ c: PGConnection) async -> String? {
        do {
            _ = try await c.query("SET default_transaction_read_only = off")
            _ = try await c.query("SET synchronous_commit = local")
            _ = try await c.query("CREATE TABLE IF NOT EXISTS sneaked(id int)")
            _ = try await c.query("INSERT INTO sneaked VALUES (1)")
            return "committed"
        } catch {
            return nil
        }
    }

    @Test func aClosedPrimaryRefusesClientsAndAFenceEndsTheirSessions() async throws {
        try await withLab { lab in
            guard let (db, reports) = try await initialisedDatabase(lab, name: "closedsess", port: 25470, closedPort: 25471) else {
                Issue.record("the copy was never initialised"); return
            }
            let (_, host) = try lab.server(1)
            let spec = await db.spec
            func client(port: Int) -> ConnectionOptions {
                ConnectionOptions(host: host, port: port, user: spec.dbConfig.username, database: spec.name,
                                  password: spec.dbConfig.password, connectTimeoutSeconds: 2)
            }

            // Initialised: a primary (not in recovery), closed. No client gets in.
            if let sneaky = try? await PGConnection.connect(client(port: 25470)) {
                let committed = await commitDespiteClosed(sneaky)
                Issue.record("a client logged in to a closed primary\(committed == nil ? "" : " and committed a row with synchronous_commit = local")")
            }
            // pg_rewind's role still does (it reads the source over an ordinary connection).
            let rewinder = ConnectionOptions(host: host, port: 25470, user: lab.replication.user, database: "postgres",
                                             password: lab.replication.password, connectTimeoutSeconds: 2)
            let replicationRole = try? await PGConnection.connect(rewinder)
            #expect(replicationRole != nil, "the replication role was refused by a closed copy; pg_rewind from it would fail")
            // The server messages the node reads are in English whatever postgresql.conf says.
            #expect(try await replicationRole?.value("SHOW lc_messages") == "C")

            // Opened: clients get in and write.
            db.performSoon(.openToClients(until: MonotonicClock.now() + .seconds(30)))
            #expect(await eventually(within: 60) { await db.state == "open" }, "the copy never opened")
            let session = try await PGConnection.connect(client(port: 25470))
            _ = try await session.query("CREATE TABLE IF NOT EXISTS w(id int)")
            _ = try await session.query("INSERT INTO w VALUES (1)")

            // Fenced: the session is ended before the fence is reported.
            db.performSoon(.fence)
            #expect(await eventually(within: 30) { await reports.has { if case .fenced = $0 { true } else { false } } }, "the fence was never reported")
            let stillThere = (try? await session.value("SELECT 1")) != nil
            #expect(!stillThere, "a client session outlived the fence")

            // From now on no login on either port can commit: refused, or in recovery (parked).
            let until = Date().addingTimeInterval(3)
            var attempts = 0
            while Date() < until {
                for port in [25470, 25471] {
                    attempts += 1
                    guard let c = try? await PGConnection.connect(client(port: port)) else { continue }
                    if await commitDespiteClosed(c) != nil {
                        Issue.record("a client committed on port \(port) of a fenced copy")
                    }
                }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
            #expect(attempts > 0)
            await db.shutdown()
        }
    }
}
