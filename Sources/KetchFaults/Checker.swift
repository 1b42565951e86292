/// One copy of the database as read after healing.
public struct FinalCopy: Sendable, Equatable {
    public enum Role: String, Sendable { case primary, inSync = "in-sync", other }
    public var server: String
    public var role: Role
    public var values: Set<Int64>
    public var timeline: Int?
    public init(server: String, role: Role, values: Set<Int64>, timeline: Int? = nil) {
        self.server = server; self.role = role; self.values = values; self.timeline = timeline
    }
}

public struct CheckInput: Sendable {
    public var operations: [HistoryOp]
    /// Service intervals from every server's journal; `journaled` names the servers whose
    /// journal was read (an ack by a server without a journal cannot be checked against one).
    public var intervals: [ServiceInterval]
    public var journaled: Set<String>
    public var finalCopies: [FinalCopy]
    public var faults: [FaultEvent]
    /// Workload start and end (ns), for unavailability at the edges.
    public var window: (start: Int64, end: Int64)
    /// Seconds the in-sync copies took to equal the primary, nil if they never did.
    public var convergedSeconds: Double?
    /// After a fault heals, a primary must acknowledge a write within this many seconds.
    public var recoveryBoundSeconds: Double

    public init(operations: [HistoryOp], intervals: [ServiceInterval], journaled: Set<String>, finalCopies: [FinalCopy],
                faults: [FaultEvent], window: (start: Int64, end: Int64), convergedSeconds: Double?, recoveryBoundSeconds: Double = 30) {
        self.operations = operations; self.intervals = intervals; self.journaled = journaled; self.finalCopies = finalCopies
        self.faults = faults; self.window = window; self.convergedSeconds = convergedSeconds; self.recoveryBoundSeconds = recoveryBoundSeconds
    }
}

/// What the checker proved or refuted. Every count but `ops`, `ok`, `indeterminate` and the
/// timings must be zero for a run to pass.
public struct CheckReport: Sendable {
    public var ops = 0, ok = 0, failed = 0, indeterminate = 0
    /// Acknowledged writes missing from the final primary or from an in-sync standby.
    public var lost = 0
    /// Pairs of service intervals of different servers that overlap in host time.
    public var splitBrain = 0
    /// Acknowledged operations that lie wholly outside every service interval of the server that answered.
    public var outsideLease = 0
    /// Reads that missed a write acknowledged before the read started.
    public var staleReads = 0
    /// Writes that failed definitely yet are in the final primary.
    public var phantoms = 0
    public var noPrimary = false
    public var notConverged = false
    public var timelineMismatch = 0
    public var maxUnavailableSeconds = 0.0
    /// Where the longest span without an acknowledged write lies (ns), to find its fault in faults.txt.
    public var longestGap: (start: Int64, end: Int64) = (0, 0)
    /// Per healed fault: seconds from the heal to the first acknowledged write that started after it.
    public var recoverySeconds: [Double] = []
    public var slowRecoveries = 0
    public var findings: [String] = []

    public var passed: Bool {
        lost == 0 && splitBrain == 0 && outsideLease == 0 && staleReads == 0 && phantoms == 0 && !noPrimary && !notConverged
            && timelineMismatch == 0 && slowRecoveries == 0
    }
}

public enum Checker {
    static let maxFindingsPerKind = 10

    public static func check(_ input: CheckInput) -> CheckReport {
        var r = CheckReport()
        let ops = input.operations
        r.ops = ops.count
        r.ok = ops.filter { $0.outcome == .ok }.count
        r.failed = ops.filter { $0.outcome == .failed }.count
        r.indeterminate = ops.filter { $0.outcome == .indeterminate }.count
        let okWrites = ops.filter { $0.kind == .write && $0.outcome == .ok && $0.value != nil }.sorted { $0.end < $1.end }

        checkFinalState(input, okWrites: okWrites, into: &r)
        checkIntervals(input, into: &r)
        checkReads(ops, okWrites: okWrites, into: &r)
        checkAvailability(input, okWrites: okWrites, into: &r)
        return r
    }

    private static func note(_ r: inout CheckReport, _ count: Int, _ text: String) {
        if count <= maxFindingsPerKind { r.findings.append(text) }
    }

    private static func checkFinalState(_ input: CheckInput, okWrites: [HistoryOp], into r: inout CheckReport) {
        guard let primary = input.finalCopies.first(where: { $0.role == .primary }) else {
            // Without a primary nothing can be shown to survive; count as lost what no readable copy holds.
            r.noPrimary = true
            r.findings.append("no primary after healing: acknowledged writes cannot be shown to survive; lost counts those on no readable copy")
            let anywhere = input.finalCopies.reduce(into: Set<Int64>()) { $0.formUnion($1.values) }
            r.lost = Set(okWrites.compactMap(\.value)).subtracting(anywhere).count
            return
        }
        var lost = Set<Int64>()
        for copy in input.finalCopies where copy.role != .other {
            for w in okWrites {
                guard let v = w.value, !copy.values.contains(v) else { continue }
                if lost.insert(v).inserted {
                    note(&r, lost.count, "lost: value \(v) acknowledged by \(w.server ?? "?") at \(w.end) is missing on \(copy.role.rawValue) \(copy.server)")
                }
            }
            if copy.role == .inSync, let t = copy.timeline, let pt = primary.timeline, t != pt {
                r.timelineMismatch += 1
                r.findings.append("in-sync standby \(copy.server) is on timeline \(t), the primary \(primary.server) on \(pt)")
            }
        }
        r.lost = lost.count
        for w in input.operations where w.kind == .write && w.outcome == .failed {
            if let v = w.value, primary.values.contains(v) {
                r.phantoms += 1
                note(&r, r.phantoms, "phantom: value \(v) failed definitely (\(w.error ?? "?")) yet is on the primary")
            }
        }
        if input.convergedSeconds == nil {
            r.notConverged = true
            r.findings.append("in-sync copies did not converge on the primary's content within the deadline")
        }
    }

    private static func checkIntervals(_ input: CheckInput, into r: inout CheckReport) {
        let byReplica = Dictionary(grouping: input.intervals, by: \.replica)
        for (_, list) in byReplica.sorted(by: { $0.key < $1.key }) {
            let sorted = list.sorted { $0.start < $1.start }
            for i in sorted.indices {
                for j in sorted.indices where j > i {
                    let a = sorted[i], b = sorted[j]
                    if b.start >= a.end { break }
                    if a.server != b.server {
                        r.splitBrain += 1
                        note(&r, r.splitBrain, "split-brain: \(a.server) served until \(a.end) but \(b.server) opened at \(b.start) (overlap \(Double(a.end - b.start) / 1e9) s)")
                    }
                }
            }
        }
        let byServer = Dictionary(grouping: input.intervals, by: \.server)
        for op in input.operations where op.outcome == .ok {
            guard let s = op.server, input.journaled.contains(s) else { continue }
            let inside = byServer[s]?.contains { $0.start < op.end && op.start < $0.end } ?? false
            if !inside {
                r.outsideLease += 1
                note(&r, r.outsideLease, "outside lease: \(op.kind.rawValue) \(op.value.map(String.init) ?? "") acknowledged by \(s) in [\(op.start), \(op.end)], when it held no lease")
            }
        }
    }

    private static func checkReads(_ ops: [HistoryOp], okWrites: [HistoryOp], into r: inout CheckReport) {
        for read in ops where read.kind == .read && read.outcome == .ok {
            let seen = Set(read.values ?? [])
            var missed: Int64?
            for w in okWrites {
                if w.end >= read.start { break }
                if let v = w.value, !seen.contains(v) { missed = v; break }
            }
            if let v = missed {
                r.staleReads += 1
                note(&r, r.staleReads, "stale read: client \(read.client) read from \(read.server ?? "?") at \(read.start) without value \(v), acknowledged before it")
            }
        }
    }

    private static func checkAvailability(_ input: CheckInput, okWrites: [HistoryOp], into r: inout CheckReport) {
        var last = input.window.start
        var gap: Int64 = 0, gapStart = last
        for w in okWrites where w.end >= input.window.start && w.end <= input.window.end {
            if w.end - last > gap { gap = w.end - last; gapStart = last }
            last = w.end
        }
        if input.window.end - last > gap { gap = input.window.end - last; gapStart = last }
        r.maxUnavailableSeconds = Double(gap) / 1e9
        r.longestGap = (gapStart, gapStart + gap)
        let byStart = okWrites.sorted { $0.start < $1.start }
        for f in input.faults {
            guard let healed = f.healed else { continue }
            let first = byStart.first { $0.start >= healed }
            let seconds = Double((first?.end ?? input.window.end) - healed) / 1e9
            r.recoverySeconds.append(seconds)
            if first == nil || seconds > input.recoveryBoundSeconds {
                r.slowRecoveries += 1
                r.findings.append("slow recovery: after \(f.name) healed, \(first == nil ? "no write was acknowledged" : "the first write took \(seconds) s") (bound \(input.recoveryBoundSeconds) s)")
            }
            // A fault that leaves every server healthy (a clock within the drift bound) is no
            // excuse: the primary must keep serving during it, not only after the heal.
            if keepsMajorityHealthy(f.name) {
                let ends = byStart.map(\.end).filter { $0 > f.start && $0 <= healed }.sorted()
                var longest: Int64 = 0, prev = f.start
                for end in ends { longest = max(longest, end - prev); prev = end }
                longest = max(longest, min(healed, input.window.end) - prev)
                if Double(longest) / 1e9 > input.recoveryBoundSeconds {
                    r.slowRecoveries += 1
                    r.findings.append("unavailable during \(f.name), which leaves every server healthy: no write acknowledged for \(Double(longest) / 1e9) s (bound \(input.recoveryBoundSeconds) s)")
                }
            }
        }
    }

    /// Faults under which a majority (here: every server) stays healthy, so a primary must serve.
    static func keepsMajorityHealthy(_ fault: String) -> Bool {
        fault.hasPrefix("clock-fast") || fault.hasPrefix("clock-slow")
    }
}
