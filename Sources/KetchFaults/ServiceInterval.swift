/// A span of host time during which one server was allowed to serve clients as the open primary
/// of a replica: from the journal's first `open` line to the earlier of its last deadline and the
/// `closed` line that ended it. The watchdog kills Postgres at the deadline, so no commit can be
/// acknowledged by that server outside these spans.
public struct ServiceInterval: Sendable, Equatable, CustomStringConvertible {
    public var server: String
    public var replica: String
    public var start: Int64
    public var end: Int64
    public init(server: String, replica: String, start: Int64, end: Int64) {
        self.server = server; self.replica = replica; self.start = start; self.end = end
    }
    public var description: String { "\(server) [\(start), \(end)]" }

    /// Parses one server's service journal (`<ns> <replica> open <deadline-ns>` / `<ns> <replica> closed`,
    /// and the watchdog's `<ns> <replica> fenced <late-ns> killed|nothing-running`, which ends an
    /// interval like `closed`: Postgres was dead from then on).
    /// The journal's deadline is the watchdog's, which the node sets `graceNs` (its watchdog
    /// margin, 50 ms) before its own lease end: the lease — and so the interval — runs to that end.
    public static func parse(journal text: String, server: String, graceNs: Int64 = 0) throws -> [ServiceInterval] {
        var open: [String: ServiceInterval] = [:]
        var out: [ServiceInterval] = []
        for (i, raw) in text.split(separator: "\n").enumerated() {
            let w = raw.split(separator: " ")
            guard w.count >= 3, let t = Int64(w[0]) else { throw HistoryError("journal of \(server) line \(i + 1) is not '<ns> <replica> open|closed ...': \(raw)") }
            let replica = String(w[1])
            let deadline = w.count >= 4 ? (Int64(w[3]) ?? 0) + graceNs : 0
            switch w[2] {
            case "open":
                guard w.count >= 4, Int64(w[3]) != nil else { throw HistoryError("journal of \(server) line \(i + 1): open without a deadline") }
                if var cur = open[replica], t <= cur.end {
                    cur.end = max(cur.end, deadline)
                    open[replica] = cur
                } else {
                    if let cur = open[replica] { out.append(cur) }
                    open[replica] = ServiceInterval(server: server, replica: replica, start: t, end: deadline)
                }
            case "closed", "fenced":
                if var cur = open.removeValue(forKey: replica) {
                    cur.end = min(cur.end, t)
                    out.append(cur)
                }
            default:
                throw HistoryError("journal of \(server) line \(i + 1): unknown word '\(w[2])' (expected open, closed or fenced)")
            }
        }
        out.append(contentsOf: open.values)
        return out.sorted { ($0.start, $0.server) < ($1.start, $1.server) }
    }
}

/// How late the watchdog (`ketch-fence`) killed Postgres after a lease deadline, from the
/// `fenced` lines of a service journal: the lease margin (50 ms) is what lateness eats into.
public enum WatchdogLateness {
    /// Lateness in nanoseconds of every fence that found Postgres running.
    public static func parse(journal text: String) -> [Int64] { kills(journal: text).map(\.late) }

    /// When (host time) and how late each fence that found Postgres running killed it.
    public static func kills(journal text: String) -> [(at: Int64, late: Int64)] {
        text.split(separator: "\n").compactMap { raw in
            let w = raw.split(separator: " ")
            guard w.count >= 5, w[2] == "fenced", w[4] == "killed", let at = Int64(w[0]), let late = Int64(w[3]) else { return nil }
            return (at, late)
        }
    }
}
