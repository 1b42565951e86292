import Foundation
import Testing

/// Runs the real `ketch-tui` in tmux against members that do not exist: it must show them
/// unreachable, show help on `?`, and give the terminal back on `q`, Ctrl-C and SIGTERM.
@Suite(.serialized) struct TmuxSmokeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/debug/ketch-tui").path

    /// One tmux session named for this test; killed (by name) when the test ends.
    final class Session {
        let name: String
        let dir: URL
        convenience init(members: String) throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketch-console-smoke-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let secret = dir.appendingPathComponent("secret")
            try "console-smoke-test-secret-0123456789\n".write(to: secret, atomically: true, encoding: .utf8)
            try self.init(dir: dir, arguments: "--members \(members) --secret-file \(secret.path)")
        }

        /// Runs ketch-tui with `arguments`, then reports its exit status and the terminal modes.
        init(dir: URL, arguments: String) throws {
            name = dir.lastPathComponent
            self.dir = dir
            let script = """
                \(TmuxSmokeTests.binary) \(arguments); echo KETCH_TUI_EXIT=$?; \
                stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '; echo STTY_DONE; sleep 600
                """
            // No pipe for new-session: a tmux server it starts would hold the pipe open forever.
            try TmuxSmokeTests.tmux(["new-session", "-d", "-s", name, "-x", "120", "-y", "36",
                                     "env", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color", "sh", "-c", script], capture: false)
        }
        deinit {
            _ = try? TmuxSmokeTests.tmux(["kill-session", "-t", name])
            try? FileManager.default.removeItem(at: dir)
        }
        func keys(_ k: String...) throws { try TmuxSmokeTests.tmux(["send-keys", "-t", name] + k) }
        func screen() throws -> String { try TmuxSmokeTests.tmux(["capture-pane", "-p", "-t", name]) }
        /// Polls the screen until `ok` holds or the deadline passes; returns the last screen.
        func waitFor(_ what: String, seconds: Double = 15, _ ok: (String) -> Bool) throws -> String {
            let deadline = Date().addingTimeInterval(seconds)
            var last = ""
            while Date() < deadline {
                last = try screen()
                if ok(last) { return last }
                usleep(100_000)
            }
            Issue.record("timed out waiting for \(what); screen was:\n\(last)")
            return last
        }
        func tuiPID() throws -> pid_t? {
            let shell = try TmuxSmokeTests.tmux(["display-message", "-p", "-t", name, "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let children = try TmuxSmokeTests.run("/usr/bin/pgrep", ["-P", shell])
            return children.split(separator: "\n").compactMap { pid_t($0) }.first
        }
    }

    @discardableResult
    static func tmux(_ args: [String], capture: Bool = true) throws -> String { try run("/usr/bin/tmux", args, capture: capture) }

    /// posix_spawn and waitpid rather than Foundation's Process, whose child reaping stalled here
    /// when the first `tmux` call started a server. Output goes through a file, never a pipe that
    /// a daemon could inherit and hold open.
    static func run(_ path: String, _ args: [String], capture: Bool = true) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ketch-console-smoke-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: out) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, capture ? out.path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return capture ? ((try? String(contentsOf: out, encoding: .utf8)) ?? "") : ""
    }

    static var ready: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux")
    }

    func assertRestored(_ screen: String, exit code: String) {
        #expect(screen.contains("KETCH_TUI_EXIT=\(code)"), "exit status \(code)")
        #expect(screen.contains("icanon echo STTY_DONE"), "the terminal is back in cooked mode with echo")
        #expect(!screen.contains("Members"), "the console's screen is gone after exit")
    }

    @Test func showsUnreachableMembersHelpAndQuitsCleanly() throws {
        try #require(Self.ready, "build ketch-tui first (swift build) and install tmux")
        let s = try Session(members: "nohost-a.invalid,127.0.0.1:9")
        let overview = try s.waitFor("both members unreachable") { $0.components(separatedBy: "unreachable ").count - 1 >= 2 }
        #expect(overview.contains("nohost-a.invalid"))
        #expect(overview.contains("127.0.0.1:9"))
        #expect(overview.contains("0/2 feeds live"))
        #expect(overview.contains("q quit"), "the footer shows the main keys")
        try s.keys("?")
        let help = try s.waitFor("the help overlay") { $0.contains("this help") }
        #expect(help.contains("fail over the selected database"))
        try s.keys("Escape")
        _ = try s.waitFor("help closed") { !$0.contains("this help") }
        try s.keys("q")
        assertRestored(try s.waitFor("exit") { $0.contains("STTY_DONE") }, exit: "0")
    }

    @Test func ctrlCRestoresTheTerminal() throws {
        try #require(Self.ready, "build ketch-tui first (swift build) and install tmux")
        let s = try Session(members: "127.0.0.1:9")
        _ = try s.waitFor("the console") { $0.contains("Members") }
        try s.keys("C-c")
        assertRestored(try s.waitFor("exit") { $0.contains("STTY_DONE") }, exit: "0")
    }

    @Test func sigtermRestoresTheTerminal() throws {
        try #require(Self.ready, "build ketch-tui first (swift build) and install tmux")
        let s = try Session(members: "127.0.0.1:9")
        _ = try s.waitFor("the console") { $0.contains("Members") }
        let pid = try #require(try s.tuiPID(), "ketch-tui's pid")
        kill(pid, SIGTERM)
        assertRestored(try s.waitFor("exit") { $0.contains("STTY_DONE") }, exit: "143")
    }
}
