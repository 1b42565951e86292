import Foundation
import Testing
import KetchShared

/// Issue 4: planned switchover under load, two databases side by side, bad specs refused.
@Suite(.serialized) struct PostgresSwitchoverTests {
    let helper = PostgresFailoverTests()

    func badSpec(_ name: String, size: Int = 3, port: Int = 17_262, closed: Int? = nil, password: String = "pw", extra: String = "") -> String {
        """
        data:
        - attributes:
            name: \(name)
            quorumGroupSize: \(size)
            dbConfig:
              username: ituser
              password: "\(password)"
              port: \(port)
              closedPort: \(closed ?? port + 1)\(extra)
          type: replica
        """
    }

    @Test func aSwitchoverUnderLoadLosesNothingAndLeavesTheOtherDatabaseAlone() async throws {
        let (c, sql) = try await helper.bringUp(portBase: 17_220, dbPort: 17_252)
        defer { c.stop() }

        // Every bad spec is refused with one line, and nothing is created anywhere.
        let bad: [(String, String)] = [
            (badSpec("two", size: 2), "quorumGroupSize"),
            (badSpec("seven", size: 7), "quorumGroupSize 7"),
            (badSpec("same", closed: 17_262), "closedPort"),
            (badSpec("nopw", password: ""), "password"),
            (badSpec("Bad-Name"), "name"),
            // Under dbConfig an unknown key is not echoed: it may be the password.
            (badSpec("extra", extra: "\n      color: blue"), "unknown field in data[0].attributes.dbConfig"),
            (badSpec("itdb"), "already exists"),
            (badSpec("clash", port: 17_252), "17252"),
        ]
        for (yaml, word) in bad {
            let r = try helper.ctl(c, 0, ["create", "replica", "-f", "-"], stdin: yaml)
            #expect(r.status != 0, "accepted: \(yaml)")
            #expect(r.stderr.contains(word), "error for \(word) was: \(r.stderr)")
            #expect(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1)
        }
        for i in 0..<4 {
            let names = await c.get(.replica, from: i)?.data.map { $0.attributes["name"] } ?? []
            #expect(names.allSatisfy { $0 == .string("itdb") }, "server \(i + 1) has \(names)")
        }

        // A second database with its own group and ports.
        let second = try helper.ctl(c, 1, ["create", "replica", "-f", "-"], stdin: helper.spec("itdb2", port: 17_272))
        #expect(second.status == 0, "\(second.stderr)")
        let sql2 = helper.client(c, db: "itdb2", port: 17_272)
        #expect(await eventually(within: 120, every: 0.5) { sql2.run("CREATE TABLE IF NOT EXISTS ketch_writes(id int PRIMARY KEY)") != nil })
        let epoch2 = await helper.replica(c, "itdb2", from: 1)?["epoch"]

        guard let primary = await helper.openPrimary(c, "itdb", among: [0, 1, 2, 3]),
              case .array(let members)? = await helper.replica(c, "itdb", from: primary)?["members"] else {
            Issue.record("no open primary"); return
        }
        let target = members.first { $0["role"] == .string("sync") }?["name"]
        guard case .string(let targetName)? = target else { Issue.record("no sync member in \(members)"); return }

        let writer = RecordingWriter(client: sql)
        writer.start()
        #expect(await eventually(within: 10) { writer.ackCount >= 20 })
        let r = try helper.ctl(c, (primary + 1) % 4, ["failover", "itdb", "--to", targetName])
        #expect(r.status == 0, "failover failed: \(r.stderr)\n\(c.logs())")
        let after = writer.ackCount
        #expect(await eventually(within: 20) { writer.ackCount >= after + 20 }, "writes did not resume after the switchover")
        writer.stop()

        let newPrimary = await helper.openPrimary(c, "itdb", among: [0, 1, 2, 3])
        #expect(newPrimary.map { c.address($0) } == targetName)
        guard let stored = await helper.storedIDs(sql) else { Issue.record("no primary served the table within 30 s after the switchover"); return }
        let lost = Set(writer.acknowledgedIDs).subtracting(stored)
        print("switchover: acknowledged=\(writer.ackCount) lost=\(lost.count)")
        #expect(lost.isEmpty, "lost: \(lost.sorted().prefix(20))")

        // Asking for the primary it already has changes nothing (finding 5), from any server.
        let epochNow = await helper.replica(c, "itdb", from: 0)?["epoch"]
        let again = try helper.ctl(c, ((newPrimary ?? 0) + 1) % 4, ["failover", "itdb", "--to", targetName])
        #expect(again.status == 0, "\(again.stderr)")
        #expect((again.stdout + again.stderr).contains("is already the primary of itdb"), "answer was: \(again.stdout) \(again.stderr)")
        #expect(await helper.replica(c, "itdb", from: 0)?["epoch"] == epochNow, "a switchover to the current primary changed the epoch")
        #expect(await helper.openPrimary(c, "itdb", among: [0, 1, 2, 3]) == newPrimary)

        // The other database did not notice.
        #expect(await helper.replica(c, "itdb2", from: 1)?["epoch"] == epoch2)
        #expect(sql2.run("INSERT INTO ketch_writes VALUES (1)") != nil)
    }
}
