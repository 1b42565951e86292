import Foundation
import KetchShared
#if canImport(Glibc)
import Glibc
#endif

/// The node's side of `ketch-fence`: it writes the guard file that the watchdog polls and keeps
/// one watchdog process running per replica while the copy may serve clients.
///
/// Order matters and is kept by the callers: `open(until:)` is written *before* Postgres is
/// opened to clients, and `closed()` only *after* Postgres was closed, so at every instant either
/// Postgres is closed or the watchdog knows the deadline at which it must be.
final class LeaseGuard: @unchecked Sendable {
    let path: String
    let postmasterPidFile: String
    private let watchdogPath: String
    private var watchdog: Process?
    private let lock = NSLock()

    init(ketchDataDirectory: String, replica: ReplicaID, postgresDataDirectory: String) {
        path = ketchDataDirectory + "/\(replica.rawValue).guard"
        postmasterPidFile = postgresDataDirectory + "/postmaster.pid"
        watchdogPath = Self.executableDirectory() + "/ketch-fence"
    }

    /// Postgres may serve clients until `deadline` on CLOCK_BOOTTIME; the watchdog kills it then.
    /// Arms the watchdog with `deadline`; throws `expiredCode` rather than arm one already past.
    ///
    /// `extending`: the guard already says `open` with an earlier deadline, and this only moves
    /// it later, every renewal. That write is not fsynced: `ketch-fence` reads the file through
    /// the page cache, and if a power loss took the new line the older, earlier deadline is the
    /// safe one. The fsync ran on the shared thread pool, and on a disk kept busy by parallel
    /// clones each took long enough that the node itself was not run and every lease it held ran
    /// out at once (issue 22: six databases fenced in the same millisecond, 2 s after opening).
    func open(until deadline: Instant, extending: Bool = false) throws {
        try ensureWatchdog()
        try waitForPendingFence()
        guard MonotonicClock.now() < deadline else {
            throw NodeError(Self.expiredCode, "the lease ended before the guard could be armed; not opening")
        }
        try write("open \(deadline.nanoseconds)\n", sync: !extending)
    }
    static let expiredCode = "lease-expired"

    /// A guard whose deadline has passed belongs to the watchdog until it writes `fenced`: it is
    /// killing Postgres then, and its `fenced` would overwrite an `open` written meanwhile, leaving
    /// a Postgres opened after that unguarded. So wait for `fenced` (a kill takes milliseconds).
    private func waitForPendingFence() throws {
        let limit = MonotonicClock.now() + .seconds(2)
        while let words = current()?.split(whereSeparator: { $0 == " " || $0 == "\n" }), words.first == "open",
              words.count > 1, let deadline = Int64(words[1]), MonotonicClock.now().nanoseconds >= deadline {
            guard MonotonicClock.now() < limit else {
                throw NodeError("guard", "the lease in \(path) expired and ketch-fence has not fenced it within 2 s; not re-arming it (is ketch-fence running?)")
            }
            usleep(2_000)
        }
    }

    func closed() throws { try write("closed\n") }

    /// Whether the watchdog fenced this guard or its deadline has passed (the watchdog is killing
    /// Postgres, or will at its next poll): the lease that guard held is over for this copy.
    func fencedOrExpired() -> Bool {
        let words = (current() ?? "closed").split(whereSeparator: { $0 == " " || $0 == "\n" })
        switch words.first {
        case "fenced": return true
        case "open": return words.count < 2 || Int64(words[1]).map { MonotonicClock.now().nanoseconds >= $0 } ?? true
        default: return false
        }
    }

    /// What the watchdog last wrote, e.g. after it fenced: `fenced <ns>`.
    func current() -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    func stopWatchdog() {
        lock.withLock {
            if let w = watchdog, w.isRunning { w.terminate() }
            watchdog = nil
        }
    }

    private func write(_ text: String, sync: Bool = true) throws {
        let tmp = path + ".tmp"
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NodeError("guard", "cannot write lease guard \(tmp): \(String(cString: strerror(errno)))") }
        // A short write or a failed fsync (a full disk) must leave the old guard in place: an
        // empty guard would read as "nothing to guard", the old one still fences at its deadline.
        let length = text.utf8.count
        let written = text.withCString { Glibc.write(fd, $0, length) }
        let synced = !sync || fsync(fd) == 0
        let writeErrno = errno
        Glibc.close(fd)
        guard written == length, synced else {
            unlink(tmp)
            throw NodeError("guard", "cannot write lease guard \(tmp): \(String(cString: strerror(written < 0 || !synced ? writeErrno : ENOSPC))); the old guard stays in force")
        }
        guard rename(tmp, path) == 0 else { throw NodeError("guard", "cannot replace lease guard \(path): \(String(cString: strerror(errno)))") }
        ServiceJournal.record(guardPath: path, text: text)
    }

    private func ensureWatchdog() throws {
        try lock.withLock {
            if let w = watchdog, w.isRunning { return }
            guard FileManager.default.isExecutableFile(atPath: watchdogPath) else {
                throw NodeError("no-watchdog", "\(watchdogPath) is missing; ketch-fence must be installed beside ketch-node, which refuses to open a primary without it")
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: watchdogPath)
            p.arguments = [path, postmasterPidFile, "\(getpid())"]
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            watchdog = p
        }
    }

    private static func executableDirectory() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }
}
