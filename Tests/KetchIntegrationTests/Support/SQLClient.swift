import Foundation

/// Talks to Postgres with the real `psql`, exactly as a user's client would: a libpq multi-host
/// string with `target_session_attrs=read-write`.
struct SQLClient {
    var conninfo: String
    var password: String

    static let psql = "/usr/lib/postgresql/15/bin/psql"

    /// Runs SQL; returns trimmed output, or nil when the statement failed or did not complete
    /// cleanly (a COMMIT with a WARNING about synchronous replication is *not* acknowledged).
    /// SIGKILL at the timeout: psql inherits this process's blocked signals, SIGTERM among them,
    /// so a plain `timeout` left a psql whose COMMIT waited for a stopped standby running for
    /// good (and the test with it).
    func run(_ sql: String, timeout seconds: Int = 5) -> String? {
        guard let r = try? runCommand("/usr/bin/timeout", ["-s", "KILL", "\(seconds)", Self.psql, conninfo, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
                                      environment: ["PGPASSWORD": password, "PGCONNECT_TIMEOUT": "1"]) else { return nil }
        guard r.status == 0, !r.stderr.contains("WARNING") else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A writer that inserts unique ids one at a time and records which were acknowledged.
final class RecordingWriter: @unchecked Sendable {
    let client: SQLClient
    private let lock = NSLock()
    private(set) var acknowledged: [Int] = []
    private(set) var attempted = 0
    private var next = 1
    private var stopFlag = false
    private var thread: Thread?
    /// When the latest acknowledged write was acknowledged, and when it had started.
    private(set) var lastAckAt: Date?
    private var lastStartOfAck: Date?
    /// When each acknowledged write started and when it was acknowledged, in order.
    private var ackTimes: [(started: Date, acked: Date)] = []
    /// Rest after an acknowledged write and after a failed one before the next attempt. Each
    /// attempt forks psql (about 15 ms of CPU): eight writers retrying every 50 ms would take
    /// both cores of a CI machine, starving the very nodes that are failing over.
    let pause: Double
    let retryPause: Double

    init(client: SQLClient, pause: Double = 0, retryPause: Double = 0.05) {
        self.client = client; self.pause = pause; self.retryPause = retryPause
    }

    func start() {
        let t = Thread { [self] in
            while !lock.withLock({ stopFlag }) {
                let id = lock.withLock { () -> Int in defer { next += 1; attempted += 1 }; return next }
                let started = Date()
                if client.run("INSERT INTO ketch_writes(id) VALUES (\(id))", timeout: 3) != nil {
                    let now = Date()
                    lock.withLock {
                        acknowledged.append(id); lastAckAt = now; ackTimes.append((started, now))
                        if started > (lastStartOfAck ?? .distantPast) { lastStartOfAck = started }
                    }
                    if pause > 0 { usleep(UInt32(pause * 1e6)) }
                } else {
                    usleep(UInt32(retryPause * 1e6))
                }
            }
        }
        thread = t
        t.start()
    }

    func stop() {
        lock.withLock { stopFlag = true }
        while thread?.isFinished == false { usleep(10_000) }
    }

    var ackCount: Int { lock.withLock { acknowledged.count } }
    /// Whether a write that *started* after `date` was acknowledged.
    func acks(startedAfter date: Date) -> Bool { lock.withLock { (lastStartOfAck ?? .distantPast) > date } }
    var acknowledgedIDs: [Int] { lock.withLock { acknowledged } }
    /// When the first write that *started* after `date` was acknowledged, if one was.
    func firstAck(startedAfter date: Date) -> Date? { lock.withLock { ackTimes.first { $0.started > date }?.acked } }
}
