import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crashing a server, stopping every node at once, and a teardown that also clears the Postgres
/// a killed node leaves behind. Every process is found in /proc and signalled by PID.
extension LocalCluster {
    /// Processes that belong to server i's Postgres: those working in its data dir or below (a
    /// postmaster and its children chdir to their data dir) and those naming a path under it in
    /// their arguments (pg_basebackup, pg_rewind, initdb into it). Never the node itself.
    func postgresProcesses(of i: Int) -> [Int32] {
        let root = realPath(dataDir(i))
        let node = nodes[i]?.pid
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != node, pid != getpid() else { return nil }
            if let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd"),
               cwd == root || cwd.hasPrefix(root + "/") { return pid }
            guard let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !raw.isEmpty else { return nil }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            // The node's own children (ketch-fence) are the node's; only Postgres programs here.
            guard let program = args.first, program.hasPrefix("/usr/lib/postgresql/") || program.hasSuffix("/runuser") else { return nil }
            return args.contains { $0.hasPrefix(root + "/") || $0.hasPrefix(dataDir(i) + "/") } ? pid : nil
        }.sorted()
    }

    /// kill -9 of server i as a crash would: its node, the children the node started, and every
    /// Postgres process under its data dir, all signalled at once; then whatever a dying process
    /// forked in between, until none is left (at most 5 s). Returns when the signals went out
    /// (a write that starts later cannot reach server i) and the Postgres PIDs killed.
    @discardableResult
    func crash(_ i: Int) -> (at: Date, postgres: [Int32]) {
        guard let node = nodes[i] else { return (Date(), []) }
        let kids = childProcesses(of: node.pid)
        var killed = postgresProcesses(of: i)
        node.signal(SIGKILL)
        for pid in kids + killed { kill(pid, SIGKILL) }
        let at = Date()
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let left = postgresProcesses(of: i).filter { isAlive($0) }
            if left.isEmpty && !node.isRunning { break }
            for pid in left { kill(pid, SIGKILL) }
            killed += left.filter { !killed.contains($0) }
            usleep(10_000)
        }
        return (at, killed)
    }

    /// SIGTERM to every running node at the same moment (Ctrl-C of scripts/demo), then waits up
    /// to `seconds` for all of them. Returns how long they took and which had to be killed.
    func stopAllNodes(within seconds: Double = 30) -> (seconds: Double, killed: [Int]) {
        let started = Date()
        let running = (0..<count).filter { nodes[$0]?.isRunning == true }
        for i in running { nodes[i]!.signal(SIGCONT); nodes[i]!.signal(SIGTERM) }
        let deadline = started.addingTimeInterval(seconds)
        while running.contains(where: { nodes[$0]!.isRunning }) && Date() < deadline { usleep(20_000) }
        let stuck = running.filter { nodes[$0]!.isRunning }
        for i in stuck { nodes[i]!.kill9() }
        return (Date().timeIntervalSince(started), stuck)
    }

    /// Teardown for tests that kill nodes: stops every node at once, kills by PID whatever
    /// Postgres is left under the data dirs, then removes the directory (kept with
    /// KETCH_KEEP_TEST_DIRS=1). Safe to call more than once.
    func shutdown() {
        let started = Date()
        let stopped = stopAllNodes(within: 30)
        let nodesDone = Date()
        for i in 0..<count {
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline {
                let left = postgresProcesses(of: i).filter { isAlive($0) }
                if left.isEmpty { break }
                for pid in left { kill(pid, SIGKILL) }
                usleep(20_000)
            }
        }
        let postgresDone = Date()
        stop()
        let took = Date().timeIntervalSince(started)
        if took > 10 || !stopped.killed.isEmpty {
            func s(_ t: Double) -> String { String(format: "%.1f s", t) }
            print("teardown took \(s(took)): nodes \(s(nodesDone.timeIntervalSince(started))) (servers killed after 30 s: \(stopped.killed.map { $0 + 1 })), "
                  + "Postgres left over \(s(postgresDone.timeIntervalSince(nodesDone))), files \(s(Date().timeIntervalSince(postgresDone)))")
        }
    }
}

/// Whether `pid` runs (a zombie does not count).
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

func realPath(_ path: String) -> String {
    guard let p = realpath(path, nil) else { return path }
    defer { free(p) }
    return String(cString: p)
}
