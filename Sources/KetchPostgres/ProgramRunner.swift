import CLibPQ
import Foundation

/// What a finished program printed.
struct ProgramOutput: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    /// The most telling line of stderr (or stdout): an error/FATAL line if there is one.
    var errorLine: String? {
        PostgresLog.errorLine(in: stderr) ?? PostgresLog.errorLine(in: stdout)
            ?? stderr.split(separator: "\n").last.map(String.init)
    }

    /// The last lines of stderr, for `PostgresError.detail`.
    var tail: String {
        stderr.split(separator: "\n").suffix(12).joined(separator: "\n")
    }
}

/// Runs one Postgres program, as the unprivileged OS user when we are root.
///
/// Output goes to temporary files rather than pipes: `pg_ctl start` leaves a daemon behind and a
/// pipe it inherited would never reach end-of-file. The child gets a small clean environment
/// (never ours, which might hold PG* variables or secrets) plus what the caller passes.
struct ProgramRunner: Sendable {
    var tools: PostgresTools
    static let nice = "/usr/bin/nice"

    func run(_ program: String, _ arguments: [String], environment: [String: String] = [:],
             workingDirectory: String? = nil, timeout: Duration) async throws -> ProgramOutput {
        let executable = tools.path(of: program)
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw PostgresError(code: .binariesMissing, message: "\(executable) is missing or not executable; install postgresql-15 or set KETCH_DB_BIN_DIR")
        }
        var argv: [String]
        if tools.switchesUser {
            argv = [OSAccount.runuser, "-u", tools.osUser, "--", executable] + arguments
        } else {
            argv = [executable] + arguments
        }
        if tools.niceness > 0, FileManager.default.isExecutableFile(atPath: Self.nice) {
            argv = [Self.nice, "-n", "\(tools.niceness)"] + argv
        }
        var childEnvironment = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PGCONNECT_TIMEOUT": "5"]
        childEnvironment.merge(environment) { _, new in new }
        let stdoutFile = try TemporaryOutput()
        let stderrFile = try TemporaryOutput()
        let pid = try ChildProcess.spawn(
            argv, environment: childEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            // A directory the OS user can enter; Postgres tools complain when the cwd is /root.
            workingDirectory: workingDirectory ?? "/", stdout: stdoutFile.fd, stderr: stderrFile.fd)

        let finished = ProcessCompletion()
        ChildProcess.reap(pid) { status in finished.signal(status) }
        let timedOut = await finished.wait(timeout: timeout) {
            kill(pid, SIGTERM)
        } escalate: {
            kill(pid, SIGKILL)
        }
        let output = ProgramOutput(status: finished.status, stdout: stdoutFile.read(), stderr: stderrFile.read())
        if timedOut {
            throw PostgresError(code: .timedOut, message: "\(program) did not finish within \(timeout) and was stopped", postgresLine: output.errorLine, detail: output.tail)
        }
        return output
    }
}

/// posix_spawn and waitpid, because Foundation.Process cannot run `pg_ctl start`: it learns
/// that a child ended from a descriptor the child inherits, and the postmaster that pg_ctl
/// leaves behind would hold that descriptor for its whole life.
enum ChildProcess {
    static func spawn(_ argv: [String], environment: [String], workingDirectory: String,
                      stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        ketch_spawn_add_closefrom(&actions, 3)
        ketch_spawn_add_chdir(&actions, workingDirectory)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group: a Ctrl-C aimed at the node does not also hit its tools, and the
        // default signal mask and dispositions are restored for the child.
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        var pid: pid_t = 0
        let argvC = argv.map { strdup($0) } + [nil]
        let envC = environment.map { strdup($0) } + [nil]
        defer {
            argvC.forEach { free($0) }
            envC.forEach { free($0) }
        }
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, argvC, envC)
        guard rc == 0 else {
            throw PostgresError(code: .binariesMissing, message: "could not start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Waits for `pid` on a thread of its own (waitpid blocks) and reports its exit status
    /// (128 + signal number when it was killed).
    static func reap(_ pid: pid_t, then report: @escaping @Sendable (Int32) -> Void) {
        let thread = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            report(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
        }
        thread.name = "waitpid \(pid)"
        thread.start()
    }
}

/// An unlinked temporary file that collects a child's output.
private final class TemporaryOutput {
    let handle: FileHandle
    var fd: Int32 { handle.fileDescriptor }

    init() throws {
        var template = Array("/tmp/ketch-pg-output-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw PostgresError(code: .filesystem, message: "cannot create a temporary file in /tmp: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    func read() -> String {
        _ = try? handle.seek(toOffset: 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Bridges a child's exit to async code, with a deadline.
final class ProcessCompletion: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    private var exitStatus: Int32 = -1
    private var waiter: CheckedContinuation<Void, Never>?

    var status: Int32 { lock.withLock { exitStatus } }

    func signal(_ status: Int32) {
        let continuation: CheckedContinuation<Void, Never>? = lock.withLock {
            done = true
            exitStatus = status
            defer { waiter = nil }
            return waiter
        }
        continuation?.resume()
    }

    private func waitUntilDone() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyDone = lock.withLock {
                if done { return true }
                waiter = continuation
                return false
            }
            if alreadyDone { continuation.resume() }
        }
    }

    private var isDone: Bool { lock.withLock { done } }

    /// Waits for the process; past `timeout` calls `terminate`, and 3 s later `escalate`.
    /// Returns whether the deadline passed.
    func wait(timeout: Duration, terminate: @escaping @Sendable () -> Void, escalate: @escaping @Sendable () -> Void) async -> Bool {
        let expired = Flag()
        let watchdog = Task { [self] in
            try await Task.sleep(for: timeout)
            if isDone { return }
            expired.set()
            terminate()
            try await Task.sleep(for: .seconds(3))
            if !isDone { escalate() }
        }
        await waitUntilDone()
        watchdog.cancel()
        return expired.isSet
    }
}

/// A thread-safe boolean that only ever goes from false to true.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
