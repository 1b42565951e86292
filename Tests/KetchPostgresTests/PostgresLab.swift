import Foundation
import KetchPostgres
import KetchShared
import Testing

/// Real Postgres 15 servers for one test: data directories under /tmp, servers on 127.0.3.x.
/// `cleanUp` stops every server it made (pg_ctl, then SIGKILL by PID) and removes the files.
final class PostgresLab: @unchecked Sendable {
    let root: String
    let tools = PostgresTools()
    let replication = ReplicationCredentials(password: "repl-\(UUID().uuidString.prefix(12))")
    private let lock = NSLock()
    private var instances: [PostgresInstance] = []
    private var pids: Set<Int32> = []

    /// Fails (never skips) when the machine cannot run the tests.
    init() throws {
        guard geteuid() == 0 else {
            throw LabError("KetchPostgresTests must run as root (they run Postgres as the 'postgres' OS user through runuser, as CI does)")
        }
        try tools.check()
        root = "/tmp/kpg-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
    }

    /// `<root>/s<n>`, the Ketch data directory of server n, and its address 127.0.3.n.
    func server(_ n: Int) throws -> (dataDirectory: String, address: String) {
        let directory = "\(root)/s\(n)"
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
        return (directory, "127.0.3.\(n)")
    }

    func instance(server n: Int, replica: String = "r1") throws -> PostgresInstance {
        let instance = try PostgresInstance(tools: tools, ketchDataDirectory: try server(n).dataDirectory, replica: ReplicaID(replica))
        lock.withLock { instances.append(instance) }
        return instance
    }

    func settings(server n: Int, port: Int, upstream: (server: Int, port: Int)? = nil,
                  synchronous: SynchronousStandbys = .none) -> PostgresSettings {
        PostgresSettings(listenAddresses: ["127.0.3.\(n)"], port: port, applicationName: "s\(n)",
                         synchronousStandbys: synchronous,
                         upstream: upstream.map { UpstreamServer(host: "127.0.3.\($0.server)", port: $0.port) },
                         extra: ["shared_buffers": "16MB", "max_connections": "30", "fsync": "on"])
    }

    /// An instance made elsewhere (by a node's ReplicaDatabase) that clean-up must stop too.
    func track(_ instance: PostgresInstance) { lock.withLock { instances.append(instance) } }

    /// Starts `instance` and remembers its postmaster PID for clean-up.
    @discardableResult
    func start(_ instance: PostgresInstance) async throws -> Int32 {
        let pid = try await instance.start(timeout: .seconds(60))
        lock.withLock { _ = pids.insert(pid) }
        return pid
    }

    func admin(_ instance: PostgresInstance, port: Int) async throws -> PGConnection {
        var options = instance.adminConnectionOptions(port: port)
        // A test that goes wrong fails within a minute instead of hanging on a held commit.
        options.statementTimeoutMs = 60_000
        return try await PGConnection.connect(options)
    }

    func cleanUp() async {
        let (all, started) = lock.withLock { (instances, pids) }
        for instance in all {
            if let running = instance.postmaster(), running.isAlive {
                try? await instance.stop(mode: .immediate, timeout: .seconds(20))
                if running.isAlive { kill(running.pid, SIGKILL) }
            }
        }
        for pid in started where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        if ProcessInfo.processInfo.environment["KETCH_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }
}

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` with a fresh lab and always cleans up, also when `body` throws.
///
/// The addresses and ports are fixed, so two checkouts running this suite at once (a helper's
/// worktree and main) would take each other's ports: a lock file shared by all of them makes
/// the labs take turns.
func withLab(_ body: (PostgresLab) async throws -> Void) async throws {
    let lock = try await MachineLock.acquire("/tmp/ketch-postgres-tests.lock", deadline: .seconds(900))
    defer { lock.release() }
    let lab = try PostgresLab()
    do {
        try await body(lab)
    } catch {
        await lab.cleanUp()
        throw error
    }
    await lab.cleanUp()
}

/// An exclusive `flock` on a file, polled so that waiting never blocks a cooperative thread.
struct MachineLock {
    private let fd: Int32

    static func acquire(_ path: String, deadline: Duration) async throws -> MachineLock {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw LabError("cannot open \(path): \(String(cString: strerror(errno)))") }
        let clock = ContinuousClock()
        let start = clock.now
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard clock.now - start < deadline else {
                close(fd)
                throw LabError("another run of KetchPostgresTests held \(path) for \(deadline); is one stuck?")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return MachineLock(fd: fd)
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// Polls `condition` until it holds or `deadline` passes; returns the time it took.
@discardableResult
func waitUntil(_ what: String, deadline: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    var lastError: (any Error)?
    while clock.now - start < deadline {
        do {
            if try await condition() { return clock.now - start }
        } catch {
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw LabError("timed out after \(deadline) waiting for \(what)\(lastError.map { "; last error: \($0)" } ?? "")")
}

extension Duration {
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
