import Foundation
import KetchShared
#if canImport(Glibc)
import Glibc
#endif

/// Test and operations hooks read once from the environment, kept out of the protocol code.
///
/// - `KETCH_DB_CLIENT_NETWORKS`: comma-separated CIDRs that may reach Postgres with a password
///   (clients and replication). Default `127.0.0.0/8`, which only works when every server is a
///   loopback address; servers on real (or namespaced) addresses must name their network.
/// - `KETCH_SERVICE_JOURNAL=1` (or an absolute directory to write it in): append every lease-guard
///   change to `<data-dir>/service.journal`
///   with the host's real `CLOCK_BOOTTIME`, so a fault checker can hold acknowledged writes
///   against the intervals in which this server was allowed to serve.
/// - `KETCH_TEST_CLOCK_RATE`: TEST ONLY. Makes this node's (and its watchdog's) protocol clock run
///   at this rate of real time, to show what clock drift within and beyond the bound does.
enum NodeHooks {
    static let clientNetworks: [String] = {
        let raw = ProcessInfo.processInfo.environment["KETCH_DB_CLIENT_NETWORKS"] ?? ""
        let list = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return list.isEmpty ? ["127.0.0.0/8"] : list
    }()

    /// "1": the journal goes beside the guard files; an absolute directory: it goes there (the
    /// fault suite keeps journals off a data dir it fills up).
    static let journalSetting = ProcessInfo.processInfo.environment["KETCH_SERVICE_JOURNAL"] ?? ""
    static let journalEnabled = journalSetting == "1" || journalSetting.hasPrefix("/")

    /// 1.0 unless the test hook says otherwise; a rate that does not parse as a positive number is ignored.
    static let clockRate: Double = {
        guard let v = ProcessInfo.processInfo.environment["KETCH_TEST_CLOCK_RATE"], let r = Double(v), r > 0 else { return 1.0 }
        return r
    }()

    static func realBoottimeNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Where the scaled clock meets real time: this process's start, so the clock does not jump
    /// (persisted acceptor deadlines stay meaningful across a restart with another rate). Put in
    /// the environment so `ketch-fence`, a child, scales from the same instant.
    static let clockAnchor: Int64 = {
        let anchor = realBoottimeNanoseconds()
        if clockRate != 1.0 { setenv("KETCH_TEST_CLOCK_ANCHOR", String(anchor), 1) }
        return anchor
    }()

    /// The protocol clock: real CLOCK_BOOTTIME scaled by the test rate from the anchor (the same formula as ketch-fence).
    static func scaled(_ real: Int64) -> Int64 {
        clockRate == 1.0 ? real : clockAnchor + Int64(Double(real - clockAnchor) * clockRate)
    }
    static func unscaled(_ node: Int64) -> Int64 {
        clockRate == 1.0 ? node : clockAnchor + Int64(Double(node - clockAnchor) / clockRate)
    }
}

/// One line per lease-guard change: `<real-boottime-ns> <replica> open <deadline-real-ns>`,
/// `... closed`, written *after* the guard file itself (so an open line never precedes the
/// watchdog knowing the deadline). Deadlines are converted back to real time so the checker
/// needs no knowledge of the test clock rate. `ketch-fence` appends its own
/// `<real-boottime-ns> <replica> fenced <late-ns> killed|nothing-running` when it kills at a deadline.
enum ServiceJournal {
    private static let lock = NSLock()

    static func record(guardPath: String, text: String) {
        guard NodeHooks.journalEnabled else { return }
        let dir = (guardPath as NSString).deletingLastPathComponent
        let replica = ((guardPath as NSString).lastPathComponent as NSString).deletingPathExtension
        let words = text.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        var line = "\(NodeHooks.realBoottimeNanoseconds()) \(replica) \(words.first ?? "?")"
        if words.first == "open", words.count > 1, let d = Int64(words[1]) { line += " \(NodeHooks.unscaled(d))" }
        line += "\n"
        lock.withLock {
            let journalDir = NodeHooks.journalSetting.hasPrefix("/") ? NodeHooks.journalSetting : dir
            let fd = open(journalDir + "/service.journal", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return }
            _ = line.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
    }
}
