import Foundation
import Testing
import KetchShared
#if canImport(Glibc)
import Glibc
#endif

/// Reliability finding 8: a node whose `ketch.db` cannot be written (full disk) ran on with its
/// in-memory protocol state ahead of its store and churned epochs for minutes. It must stop
/// taking part: close and stop its copies. Finding 15: it then exited, and after three disk-full
/// faults three of four servers were gone for good. It must wait, in the same process, until the
/// disk has room again and come back by itself.
@Suite(.serialized) struct PersistFailureTests {
    let helper = PostgresFailoverTests()

    @Test func aPrimaryThatCannotPersistItsStateStopsItsCopiesAndComesBackWhenTheDiskHasRoom() async throws {
        let c = try LocalCluster(portBase: 17_140)
        // Each server's data dir on its own small tmpfs, so one of them can be filled.
        var mounted: [String] = []
        defer {
            // Postgres outlives a killed node: note every postmaster first, stop the nodes, then
            // kill what is left by PID before the file systems go.
            let postmasters = (0..<c.count).compactMap { helper.postmasterPID(c, $0) }
            for n in c.nodes { n?.terminate() }
            for n in c.nodes { n?.waitForExit(seconds: 25) }
            for n in c.nodes { n?.kill9() }
            for pm in postmasters { kill(pm, SIGKILL) }
            for m in mounted { _ = try? runCommand("/bin/umount", ["-l", m]) }
            c.stop()
        }
        for i in 0..<c.count {
            try FileManager.default.createDirectory(atPath: c.dataDir(i), withIntermediateDirectories: true)
            let r = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=256m,mode=0755", "tmpfs", c.dataDir(i)])
            guard r.status == 0 else { Issue.record("cannot mount a tmpfs (must run as root): \(r.stderr)"); return }
            mounted.append(c.dataDir(i))
        }
        try c.startAll()
        let up = await eventually(within: 15) {
            for i in 0..<4 { guard await c.get(.server, from: i)?.data.filter({ $0.attributes["health"] == .string("alive") }).count == 4 else { return false } }
            return true
        }
        #expect(up, "cluster did not converge:\n\(c.logs())")
        let created = try helper.ctl(c, 0, ["create", "replica", "-f", "-"], stdin: helper.spec("pfdb", port: 17_162))
        #expect(created.status == 0, "\(created.stderr)")
        let sql = helper.client(c, db: "pfdb", port: 17_162)
        #expect(await eventually(within: 120, every: 0.5) { sql.run("CREATE TABLE IF NOT EXISTS t(id int)") != nil }, "never opened:\n\(c.logs())")
        guard let p = await helper.openPrimary(c, "pfdb", among: [0, 1, 2, 3]) else { Issue.record("no open primary"); return }
        let postmaster = helper.postmasterPID(c, p)
        #expect(postmaster != nil)

        // Fill the primary's filesystem (dd stops at ENOSPC).
        _ = try runCommand("/bin/dd", ["if=/dev/zero", "of=\(c.dataDir(p))/fill", "bs=1M"])
        let node = c.node(p)
        #expect(await eventually(within: 60) { node.log.contains("stopping on a protocol state persist failure") },
                "the node ran on without persisting its state:\n\(node.log.suffix(3000))")
        if let pm = postmaster {
            #expect(await eventually(within: 20) { kill(pm, 0) != 0 }, "its Postgres still runs")
        }
        // The one line that names the file and the fix, and the process still waiting.
        #expect(await eventually(within: 10) { node.log.contains("cannot persist protocol state to \(c.dataDir(p))/ketch.db") },
                "\(node.log.suffix(2000))")
        #expect(node.isRunning, "the node exited instead of waiting for free space:\n\(node.log.suffix(2000))")

        // Free the space: the same process starts afresh, rejoins, and the database serves writes.
        try FileManager.default.removeItem(atPath: "\(c.dataDir(p))/fill")
        #expect(await eventually(within: 30) { node.log.contains("the store takes writes again") }, "\(node.log.suffix(2000))")
        #expect(node.isRunning)
        let rejoined = await eventually(within: 30) {
            for i in 0..<4 { guard await c.get(.server, from: i)?.data.filter({ $0.attributes["health"] == .string("alive") }).count == 4 else { return false } }
            return true
        }
        #expect(rejoined, "server \(p + 1) did not rejoin:\n\(c.logs())")
        #expect(await eventually(within: 60, every: 0.5) { sql.run("INSERT INTO t VALUES (1)") != nil }, "no primary serves after the disk was freed:\n\(c.logs())")
        print("persist failure: server \(p + 1) waited for space and rejoined")
    }
}
