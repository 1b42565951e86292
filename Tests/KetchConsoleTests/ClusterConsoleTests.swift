import Foundation
import Testing

/// `ketch-tui` in tmux against four real `ketch-node`s on 127.0.5.1-4: all feeds live, a paused
/// node shown unreachable within the silence limit and back when resumed, and a create request
/// from the form answered by the node. When the node manages databases, the new database must
/// appear and a failover from the keyboard must move its primary to a new open epoch.
@Suite(.serialized) struct ClusterConsoleTests {
    static let node = TmuxSmokeTests.root.appendingPathComponent(".build/debug/ketch-node").path
    static let apiPort = 37460, memberPort = 37459
    static let hosts = (1...4).map { "127.0.5.\($0)" }

    /// Four nodes started for one test and stopped (by PID) when it ends.
    final class Cluster {
        let dir: URL
        var pids: [pid_t] = []
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketch-console-cluster-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try "console-cluster-test-secret-0123456789\n".write(to: secret, atomically: true, encoding: .utf8)
            chmod(secret.path, 0o600)
            let list = hosts.map { "\($0):\(memberPort)" }.joined(separator: ",")
            for h in hosts {
                pids.append(try spawn(node, ["run", "--api-server", h, "--api-port", "\(apiPort)", "--member-port", "\(memberPort)",
                                             "--member-list", list, "--data-dir", dir.appendingPathComponent(h).path,
                                             "--secret-file", secret.path], log: dir.appendingPathComponent("\(h).log").path))
            }
        }
        var secret: URL { dir.appendingPathComponent("secret") }
        deinit {
            for p in pids { kill(p, SIGCONT); kill(p, SIGTERM) }
            for p in pids {
                var status: Int32 = 0
                let deadline = Date().addingTimeInterval(10)
                while waitpid(p, &status, WNOHANG) == 0 && Date() < deadline { usleep(50_000) }
                if Date() >= deadline { kill(p, SIGKILL); waitpid(p, &status, 0) }
            }
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static func spawn(_ path: String, _ args: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        return pid
    }

    @Test func followsARealClusterThroughAPauseAndSendsRequests() throws {
        try #require(TmuxSmokeTests.ready && FileManager.default.isExecutableFile(atPath: Self.node),
                     "build ketch-node and ketch-tui first (swift build) and install tmux")
        let cluster = try Cluster()
        let s = try TmuxSmokeTests.Session(dir: cluster.dir.appendingPathComponent(cluster.dir.lastPathComponent + "-console"),
                                           arguments: "--members \(Self.hosts.joined(separator: ",")) --api-port \(Self.apiPort) --secret-file \(cluster.secret.path)")
        let live = try s.waitFor("all four feeds live", seconds: 30) { $0.contains("4/4 feeds live") }
        for h in Self.hosts { #expect(live.contains(h)) }
        #expect(live.contains("alive 4/4"))

        kill(cluster.pids[2], SIGSTOP)
        let paused = Date()
        let down = try s.waitFor("127.0.5.3 unreachable") { screen in
            screen.split(separator: "\n").contains { $0.contains("127.0.5.3") && $0.contains("unreachable") }
        }
        #expect(Date().timeIntervalSince(paused) < 4.5, "shown unreachable soon after 2 s of silence")
        #expect(down.contains("3/4 feeds live"))
        kill(cluster.pids[2], SIGCONT)
        _ = try s.waitFor("127.0.5.3 back", seconds: 15) { $0.contains("4/4 feeds live") }

        // Create from the form; ports of our own so nothing clashes with a cluster on 5432.
        try s.keys("c")
        _ = try s.waitFor("the create form") { $0.contains("Create database") }
        try TmuxSmokeTests.tmux(["send-keys", "-t", s.name, "-l", "mydb1"])
        try s.keys("Tab", "Tab", "BSpace", "BSpace", "BSpace", "BSpace")
        try TmuxSmokeTests.tmux(["send-keys", "-t", s.name, "-l", "35432"])
        try s.keys("Tab", "BSpace", "BSpace", "BSpace", "BSpace")
        try TmuxSmokeTests.tmux(["send-keys", "-t", s.name, "-l", "35433"])
        try s.keys("Tab")
        try TmuxSmokeTests.tmux(["send-keys", "-t", s.name, "-l", "myuser"])
        try s.keys("Tab")
        try TmuxSmokeTests.tmux(["send-keys", "-t", s.name, "-l", "mypassword"])
        try s.keys("Enter")
        let answered = try s.waitFor("the node's answer", seconds: 30) { screen in
            !screen.contains("Create database") || screen.contains("not-implemented") || screen.contains("failed")
        }
        #expect(!answered.contains("mypassword"), "the password is never on screen")
        if answered.contains("not-implemented") {
            // This build of the node does not manage databases yet: the console showed its clear refusal.
            try s.keys("Escape")
        } else {
            #expect(!answered.contains("Create database"), "the create request succeeded")
            // The database row (framed, in the table), not the status line, must show the epoch open.
            func openRow(_ screen: String) -> String? {
                screen.split(separator: "\n").first { $0.hasPrefix("│") && $0.contains("mydb1 ") && $0.contains(" open ") }.map(String.init)
            }
            let created = try s.waitFor("mydb1 open", seconds: 120) { openRow($0) != nil }
            let row = openRow(created) ?? ""
            _ = try s.waitFor("an in-sync standby", seconds: 60) { screen in
                screen.split(separator: "\n").contains { $0.hasPrefix("│") && $0.contains("mydb1") && $0.contains("S✓") }
            }
            try s.keys("f")
            _ = try s.waitFor("the failover picker") { $0.contains("New primary") }
            try s.keys("Enter")
            _ = try s.waitFor("the confirmation") { $0.contains(" fail over ") }
            try s.keys("y")
            let done = try s.waitFor("the new epoch open", seconds: 60) { $0.contains("is primary in epoch") || $0.contains("failed:") }
            #expect(done.contains("is primary in epoch"), "failover finished: \(row)")
            try s.keys("Enter")
        }
        try s.keys("q")
        let exit = try s.waitFor("exit") { $0.contains("STTY_DONE") }
        #expect(exit.contains("KETCH_TUI_EXIT=0"))
    }
}
