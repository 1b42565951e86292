import ArgumentParser
import Foundation
import KetchFaults

@main
struct FaultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ketch-faults",
        abstract: "Workload and checker of the Ketch fault-injection suite (driven by scripts/faults).",
        subcommands: [Workload.self, Check.self, Now.self])
}

/// Prints the host's CLOCK_BOOTTIME in nanoseconds, the clock of histories and journals.
struct Now: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print CLOCK_BOOTTIME in nanoseconds.")
    func run() { print(boottimeNanoseconds()) }
}

struct Workload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Append unique values through libpq and read them back, logging every operation.")
    @Option(help: "libpq conninfo of the multi-host string (password from KF_PASSWORD).") var conninfo: String
    @Option(help: "Comma-separated hosts that each get one client pinned to them alone.") var pinned: String = ""
    @Option(help: "Clients on the multi-host string that write.") var writers: Int = 3
    @Option(help: "Clients on the multi-host string that read everything back.") var readers: Int = 1
    @Option(help: "History file (NDJSON).") var out: String
    @Option(help: "Stop when this file exists.") var stopFile: String
    @Option(help: "Seconds an operation may take before it is abandoned (then indeterminate if COMMIT was in flight).") var opTimeout: Double = 5

    func validate() throws {
        guard writers >= 0, readers >= 0, writers + readers > 0 else { throw ValidationError("--writers and --readers must be >= 0 and not both 0") }
        guard opTimeout > 0 else { throw ValidationError("--op-timeout must be positive seconds") }
    }

    func run() throws {
        let history = try HistoryWriter(path: out)
        let password = ProcessInfo.processInfo.environment["KF_PASSWORD"] ?? ""
        let stopFile = self.stopFile
        let stop: @Sendable () -> Bool = { FileManager.default.fileExists(atPath: stopFile) }
        let withPassword = { (c: String) in c + " password='\(password)'" }
        var clients: [Client] = []
        var id = 1
        for _ in 0..<writers { clients.append(Client(id: id, conninfo: withPassword(conninfo), reader: false, pauseMs: 20, opTimeoutSeconds: opTimeout, history: history, stop: stop)); id += 1 }
        for _ in 0..<readers { clients.append(Client(id: id, conninfo: withPassword(conninfo), reader: true, pauseMs: 300, opTimeoutSeconds: opTimeout, history: history, stop: stop)); id += 1 }
        for host in pinned.split(separator: ",") {
            let single = conninfo.split(separator: " ").map { $0.hasPrefix("host=") ? "host=\(host)" : String($0) }.joined(separator: " ")
            clients.append(Client(id: id, conninfo: withPassword(single), reader: false, pauseMs: 150, opTimeoutSeconds: opTimeout, history: history, stop: stop)); id += 1
        }
        let group = DispatchGroup()
        for c in clients {
            group.enter()
            let t = Thread { c.run(); group.leave() }
            t.start()
        }
        group.wait()
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a run folder: history, journals, faults and the healed cluster's copies.")
    @Option(help: "Run folder with history.ndjson, faults.txt, journal/*.journal and window.txt.") var runDir: String
    @Option(help: "Comma-separated service addresses of every server.") var hosts: String
    @Option var port: Int = 5432
    @Option var user: String
    @Option var dbname: String
    @Option(help: "Comma-separated addresses Ketch lists as in-sync members.") var inSync: String = ""
    @Option(help: "Seconds the in-sync copies have to converge.") var convergeSeconds: Double = 60
    @Option(help: "Seconds a primary has to acknowledge a write after a fault heals.") var recoveryBound: Double = 30
    @Option(help: "Milliseconds between the watchdog deadline in the journal and the node's lease end (ReplicaDatabase.watchdogMargin).") var fenceMarginMs: Int = 50

    func run() throws {
        let ops = try HistoryFile.read(HistoryOp.self, from: runDir + "/history.ndjson")
        var intervals: [ServiceInterval] = []
        var journaled = Set<String>()
        var fenceKills: [(server: String, at: Int64, late: Int64)] = []
        let jdir = runDir + "/journal"
        for f in (try? FileManager.default.contentsOfDirectory(atPath: jdir))?.sorted() ?? [] where f.hasSuffix(".journal") {
            let server = String(f.dropLast(".journal".count))
            let text = (try? String(contentsOfFile: jdir + "/" + f, encoding: .utf8)) ?? ""
            intervals += try ServiceInterval.parse(journal: text, server: server, graceNs: Int64(fenceMarginMs) * 1_000_000)
            journaled.insert(server)
            fenceKills += WatchdogLateness.kills(journal: text).map { (server, $0.at, $0.late) }
        }
        let faults = try parseFaults(runDir + "/faults.txt")
        let window = try parseWindow(runDir + "/window.txt")
        let reader = FinalStateReader(hosts: hosts.split(separator: ",").map(String.init), port: port, user: user, dbname: dbname,
                                      password: ProcessInfo.processInfo.environment["KF_PASSWORD"] ?? "",
                                      ketchInSync: Set(inSync.split(separator: ",").map(String.init)))
        let (snap, seconds) = reader.awaitConvergence(deadlineSeconds: convergeSeconds)
        let report = Checker.check(CheckInput(operations: ops, intervals: intervals, journaled: journaled, finalCopies: snap.copies,
                                              faults: faults, window: window, convergedSeconds: seconds, recoveryBoundSeconds: recoveryBound))
        var lines: [String] = []
        lines.append("servers journaled: \(journaled.sorted().joined(separator: ",")); service intervals: \(intervals.count)")
        if !fenceKills.isEmpty {
            // A frozen host freezes its watchdog with its Postgres: such a kill is late by the
            // freeze, and nothing could be acknowledged meanwhile. Counted apart.
            func frozen(_ k: (server: String, at: Int64, late: Int64)) -> Bool {
                guard let n = k.server.split(separator: ".").last else { return false }
                return faults.contains { f in
                    f.name.hasPrefix("pause-host") && f.name.contains("(server\(n))")
                        && f.start <= k.at && k.at <= (f.healed ?? .max) + 1_000_000_000
                }
            }
            let l = fenceKills.filter { !frozen($0) }.map(\.late).sorted()
            let onFrozen = fenceKills.count - l.count
            let note = onFrozen > 0 ? " (and \(onFrozen) on a frozen host, late by the freeze)" : ""
            if l.isEmpty { lines.append("watchdog kills: n=0\(note)") }
            else { lines.append(String(format: "watchdog kills: n=%d late p50=%.1f ms max=%.1f ms", l.count, Double(l[l.count / 2]) / 1e6, Double(l.last!) / 1e6) + note) }
        }
        for c in snap.copies { lines.append("final copy \(c.server): \(c.role.rawValue), \(c.values.count) values, timeline \(c.timeline.map(String.init) ?? "?")") }
        if !snap.note.isEmpty { lines.append("final state notes: \(snap.note)") }
        lines.append("converged: \(seconds.map { String(format: "%.1f s", $0) } ?? "no")")
        let rec = report.recoverySeconds.sorted()
        if !rec.isEmpty { lines.append(String(format: "recovery after heal: n=%d p50=%.2f s max=%.2f s", rec.count, rec[rec.count / 2], rec.last!)) }
        let during = faults.filter { $0.start <= report.longestGap.end && ($0.healed ?? .max) >= report.longestGap.start }.map(\.name)
        lines.append(String(format: "longest span without an acknowledged write: %.2f s from %lld to %lld", report.maxUnavailableSeconds, report.longestGap.start, report.longestGap.end)
                     + (during.isEmpty ? "" : " (during \(during.joined(separator: ", ")))"))
        lines.append("failed=\(report.failed) outside_lease=\(report.outsideLease) stale_reads=\(report.staleReads) phantoms=\(report.phantoms) slow_recoveries=\(report.slowRecoveries) timeline_mismatch=\(report.timelineMismatch)")
        lines += report.findings
        let summary = String(format: "ops=%d ok=%d indeterminate=%d lost=%d split_brain=%d max_unavailable_s=%.2f", report.ops, report.ok, report.indeterminate, report.lost, report.splitBrain, report.maxUnavailableSeconds)
            + " outside_lease=\(report.outsideLease) stale_reads=\(report.staleReads) result=\(report.passed ? "pass" : "FAIL")"
        lines.append(summary)
        let text = lines.joined(separator: "\n") + "\n"
        _ = FileManager.default.createFile(atPath: runDir + "/check.txt", contents: Data(text.utf8))
        print(text, terminator: "")
        if !report.passed { throw ExitCode(1) }
    }

    private func parseFaults(_ path: String) throws -> [FaultEvent] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            let w = line.split(separator: " ", maxSplits: 2)
            guard w.count == 3, let s = Int64(w[0]) else { throw ValidationError("\(path): line '\(line)' is not '<start-ns> <healed-ns|-> <name>'") }
            return FaultEvent(name: String(w[2]), start: s, healed: Int64(w[1]))
        }
    }

    private func parseWindow(_ path: String) throws -> (start: Int64, end: Int64) {
        let w = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int64($0) }
        guard w.count == 2 else { throw ValidationError("\(path) must hold '<workload-start-ns> <workload-end-ns>'") }
        return (w[0], w[1])
    }
}
