import Foundation
import KetchFaults

/// Reads every copy after healing and waits (up to a deadline) until the in-sync copies hold
/// exactly what the primary holds, on the primary's timeline.
struct FinalStateReader {
    var hosts: [String]
    var port: Int
    var user: String
    var dbname: String
    var password: String
    var ketchInSync: Set<String>

    struct Snapshot { var copies: [FinalCopy]; var converged: Bool; var note: String }

    private func conninfo(_ host: String) -> String {
        "host=\(host) port=\(port) user=\(user) dbname=\(dbname) password='\(password.replacingOccurrences(of: "'", with: "\\'"))' connect_timeout=2"
    }

    func snapshot() -> Snapshot {
        var copies: [FinalCopy] = []
        var primaries: [String] = []
        var syncByPG = Set<String>()
        var notes: [String] = []
        var raw: [(String, Bool, Set<Int64>, Int?)] = []
        for h in hosts {
            let (s, err) = PQSession.connect(conninfo(h))
            guard let s else { notes.append("\(h): \(err ?? "?")"); continue }
            defer { s.close() }
            let deadline = boottimeNanoseconds() + 10_000_000_000
            guard let info = try? s.exec("SELECT pg_is_in_recovery()::text, current_setting('default_transaction_read_only')", deadline: deadline).first,
                  let values = try? s.exec("SELECT v FROM items", deadline: deadline) else { notes.append("\(h): cannot read items"); continue }
            let isPrimary = info[0] == "false" && info[1] == "off"
            var timeline: Int?
            if info[0] == "false" {
                timeline = (try? s.exec("SELECT ('x'||substr(pg_walfile_name(pg_current_wal_lsn()),1,8))::bit(32)::int", deadline: deadline))?.first.flatMap { Int($0[0]) }
                if isPrimary, let rows = try? s.exec("SELECT host(client_addr) FROM pg_stat_replication WHERE sync_state IN ('sync','quorum')", deadline: deadline) {
                    for r in rows { syncByPG.insert(r[0]) }
                }
            } else {
                timeline = (try? s.exec("SELECT received_tli FROM pg_stat_wal_receiver", deadline: deadline))?.first.flatMap { Int($0[0]) }
            }
            if isPrimary { primaries.append(h) }
            raw.append((h, isPrimary, Set(values.compactMap { $0.first.flatMap { Int64($0) } }), timeline))
        }
        let inSync = syncByPG.union(ketchInSync)
        for (h, isPrimary, values, tl) in raw {
            copies.append(FinalCopy(server: h, role: isPrimary ? .primary : inSync.contains(h) ? .inSync : .other, values: values, timeline: tl))
        }
        if primaries.count > 1 { notes.append("more than one writable primary: \(primaries.joined(separator: ","))") }
        let primary = copies.first { $0.role == .primary }
        let missingInSync = inSync.subtracting(copies.map(\.server))
        let converged = primary != nil && primaries.count == 1 && missingInSync.isEmpty && copies.filter { $0.role == .inSync }.allSatisfy {
            $0.values == primary!.values && ($0.timeline == nil || $0.timeline == primary!.timeline)
        }
        if !missingInSync.isEmpty { notes.append("in-sync copies not readable: \(missingInSync.sorted().joined(separator: ","))") }
        return Snapshot(copies: copies, converged: converged, note: notes.joined(separator: "; "))
    }

    /// Polls until converged or `deadlineSeconds` pass; returns the last snapshot and the seconds taken.
    func awaitConvergence(deadlineSeconds: Double) -> (Snapshot, Double?) {
        let start = boottimeNanoseconds()
        var snap = snapshot()
        while !snap.converged {
            let elapsed = Double(boottimeNanoseconds() - start) / 1e9
            if elapsed > deadlineSeconds { return (snap, nil) }
            usleep(500_000)
            snap = snapshot()
        }
        return (snap, Double(boottimeNanoseconds() - start) / 1e9)
    }
}
