import Foundation
import Testing
import KetchShared
#if canImport(Glibc)
import Glibc
#endif

/// Reliability finding 8: a node whose `ketch.db` cannot be written (full disk) ran on with its
/// in-memory protocol state ahead of its store and churned epochs for minutes. It must stop
/// taking part: close and stop its copies, and exit with a one-line error so it is restarted.
@Suite(.serialized) struct PersistFailureTests {
    let helper = PostgresFailoverTests()

    @Test func aPrimaryThatCannotPersistItsStateStopsAndExitsWithAClearError() async throws {
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
        #expect(await eventually(within: 60) { !node.isRunning }, "the node ran on without persisting its state:\n\(node.log.suffix(3000))")
        if !node.isRunning {
            #expect(node.process.terminationStatus != 0)
            #expect(node.log.contains("stopping on a protocol state persist failure"), "\(node.log.suffix(2000))")
            // The one-line error ketch-node exits with, naming the file and the fix.
            #expect(node.log.contains("ketch-node: cannot persist protocol state to \(c.dataDir(p))/ketch.db"), "\(node.log.suffix(2000))")
            print("persist failure: primary \(p + 1) exited with status \(node.process.terminationStatus)")
        }
        if let pm = postmaster {
            #expect(await eventually(within: 20) { kill(pm, 0) != 0 }, "its Postgres still runs")
        }
    }
}
