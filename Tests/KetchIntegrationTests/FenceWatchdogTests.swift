import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `ketch-fence` stops a "postmaster" (here a shell with a child) when its lease deadline passes,
/// without any help from the node.
@Suite(.serialized) struct FenceWatchdogTests {
    func boottime() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// A stand-in postmaster: `sh` with a `sleep` child, like a postmaster with a backend.
    func fakePostmaster(in dir: TempDir) throws -> (TestProcess, String) {
        let p = try TestProcess("/bin/sh", ["-c", "sleep 600 & wait"], log: dir.path + "/pm.log")
        let pidFile = dir.path + "/postmaster.pid"
        try Data("\(p.pid)\n\(dir.path)\n".utf8).write(to: URL(fileURLWithPath: pidFile))
        return (p, pidFile)
    }

    func childPids(of pid: Int32) -> [Int32] { childProcesses(of: pid) }

    @Test func itKillsThePostmasterAndItsChildrenWhenTheLeaseRunsOut() async throws {
        let dir = try TempDir("ketch-fence")
        defer { dir.remove() }
        let (pm, pidFile) = try fakePostmaster(in: dir)
        defer { pm.kill9() }
        #expect(await eventually(within: 5) { !childPids(of: pm.pid).isEmpty })
        let kids = childPids(of: pm.pid)
        let guardFile = dir.path + "/guard"
        try Data("open \(boottime() + 300_000_000)\n".utf8).write(to: URL(fileURLWithPath: guardFile))
        let fence = try TestProcess(Binaries.path("ketch-fence"), [guardFile, pidFile, "\(getpid())"], log: dir.path + "/fence.log")
        defer { fence.kill9() }

        #expect(pm.isRunning, "fenced before the deadline")
        #expect(await eventually(within: 3) { !pm.isRunning })
        for k in kids { #expect(await eventually(within: 2) { kill(k, 0) != 0 }, "child \(k) survived") }
        let text = try String(contentsOfFile: guardFile, encoding: .utf8)
        #expect(text.hasPrefix("fenced "))
    }

    @Test func aRenewedDeadlineKeepsPostgresAndClosedMeansNothingToGuard() async throws {
        let dir = try TempDir("ketch-fence")
        defer { dir.remove() }
        let (pm, pidFile) = try fakePostmaster(in: dir)
        defer { pm.kill9() }
        let guardFile = dir.path + "/guard"
        try Data("open \(boottime() + 400_000_000)\n".utf8).write(to: URL(fileURLWithPath: guardFile))
        let fence = try TestProcess(Binaries.path("ketch-fence"), [guardFile, pidFile, "\(getpid())"], log: dir.path + "/fence.log")
        defer { fence.kill9() }
        // Renew well before the deadline, several times, then close.
        for _ in 0..<4 {
            try Data("open \(boottime() + 400_000_000)\n".utf8).write(to: URL(fileURLWithPath: guardFile + ".tmp"))
            rename(guardFile + ".tmp", guardFile)
            try await Task.sleep(nanoseconds: 150_000_000)
            #expect(pm.isRunning)
        }
        try Data("closed\n".utf8).write(to: URL(fileURLWithPath: guardFile + ".tmp"))
        rename(guardFile + ".tmp", guardFile)
        try await Task.sleep(nanoseconds: 600_000_000)
        #expect(pm.isRunning, "a closed guard must not fence")
        #expect(try String(contentsOfFile: guardFile, encoding: .utf8) == "closed\n")
    }

    @Test func itRefusesBadArguments() throws {
        let r = try runCommand(Binaries.path("ketch-fence"), ["only-one"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("ketch-fence: usage:"))
    }
}
