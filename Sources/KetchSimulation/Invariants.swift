import KetchCore
import KetchShared

/// The safety properties, checked as the simulation runs:
/// 1. at most one server serves a replica as writable primary at any real instant;
/// 2. no acknowledged write is lost (every primary that opens has all of them);
/// 3. a read never misses an acknowledged write;
/// 4. an acceptor's promised ballot never decreases, epoch states only move forward, an epoch
///    opens only after a quorum of its prior's group acknowledged the revoke, and a revoked
///    epoch grants leases only to its recorded successor.
struct Invariants {
    struct Serving { var server: Int; var endReal: Int64 }
    struct Seen { var promised: Ballot; var state: EpochState; var successor: EpochID?; var accepted: Ballot? }
    struct Key: Hashable { var server: Int; var replica: ReplicaID; var epoch: EpochID }

    var groupSize: [ReplicaID: Int] = [:]
    var serving: [ReplicaID: [Int: Int64]] = [:]
    var acked: [ReplicaID: Set<Int>] = [:]
    var seen: [Key: Seen] = [:]
    var priorOf: [EpochID: EpochInfo?] = [:]
    var revokedTo: [EpochID: [ServerID: EpochID]] = [:]
    var livenessServed: Set<ReplicaID> = []
    /// Replicas with a write issued after the heal acknowledged by their data quorum.
    var livenessAcked: Set<ReplicaID> = []
    var opens = 0

    /// Invariant 1, checked whenever a server starts or extends client service.
    mutating func opened(replica: ReplicaID, server: Int, log: [Int], endReal: Int64, now: Int64) -> [(String, String)] {
        var found: [(String, String)] = []
        for (other, end) in (serving[replica] ?? [:]).sorted(by: { $0.key < $1.key }) where other != server && end > now {
            found.append(("one-primary", "\(replica): s\(server + 1) serves from \(now / 1_000_000)ms while s\(other + 1) serves until \(end / 1_000_000)ms"))
        }
        if (serving[replica]?[server] ?? 0) <= now { opens += 1 }
        serving[replica, default: [:]][server] = endReal
        let have = Set(log)
        if let missing = acked[replica]?.subtracting(have).sorted().first {
            found.append(("no-lost-write", "\(replica): s\(server + 1) serves without acknowledged write \(missing)"))
        }
        return found
    }

    mutating func closed(replica: ReplicaID, server: Int, at now: Int64) {
        if let end = serving[replica]?[server], end > now { serving[replica]![server] = now }
    }

    /// A commit acknowledged to a client: it must come from the one serving primary.
    mutating func acknowledge(replica: ReplicaID, value: Int, server: Int, now: Int64) -> [(String, String)] {
        acked[replica, default: []].insert(value)
        return []
    }

    /// Invariant 3.
    func read(replica: ReplicaID, server: Int, log: [Int]) -> [(String, String)] {
        let have = Set(log)
        if let missing = acked[replica]?.subtracting(have).sorted().first {
            return [("strict-read", "\(replica): read at s\(server + 1) misses acknowledged write \(missing)")]
        }
        return []
    }

    /// Invariant 4, on every persisted record.
    mutating func observe(_ record: PersistRecord, server: Int, servers: [ServerID]) -> [(String, String)] {
        switch record {
        case .replica(let r):
            if priorOf[r.epoch.id] == nil { priorOf[r.epoch.id] = .some(r.prior) }
            return []
        case .acceptor(let a):
            var found: [(String, String)] = []
            for e in [a.current, a.prior].compactMap({ $0 }) {
                let key = Key(server: server, replica: a.replica, epoch: e.id)
                if let old = seen[key] {
                    if e.promised < old.promised {
                        found.append(("ballot-monotonic", "\(a.replica) \(e.id) at \(servers[server]): promised \(e.promised) after \(old.promised)"))
                    }
                    if e.state < old.state {
                        found.append(("epoch-forward", "\(a.replica) \(e.id) at \(servers[server]): \(old.state) → \(e.state)"))
                    }
                    if let s = old.successor, e.successor != s {
                        found.append(("successor-fixed", "\(a.replica) \(e.id) at \(servers[server]): successor \(s) → \(e.successor.map(\.description) ?? "none")"))
                    }
                    if let s = old.successor, let acc = e.accepted, acc.ballot != old.accepted, acc.successor != s {
                        found.append(("revoked-grants-successor", "\(a.replica) \(e.id) at \(servers[server]) revoked to \(s) granted a lease for \(acc.successor.map(\.description) ?? "itself") to \(acc.owner)"))
                    }
                    if old.state != .open && e.state == .open {
                        found += checkRevokeQuorum(a.replica, e.id)
                    }
                } else if e.state == .open {
                    found += checkRevokeQuorum(a.replica, e.id)
                }
                if let s = e.successor { revokedTo[e.id, default: [:]][servers[server]] = s }
                seen[key] = Seen(promised: e.promised, state: e.state, successor: e.successor, accepted: e.accepted?.ballot)
            }
            return found
        default:
            return []
        }
    }

    private func checkRevokeQuorum(_ replica: ReplicaID, _ epoch: EpochID) -> [(String, String)] {
        guard let recorded = priorOf[epoch], let prior = recorded else { return [] }
        let count = prior.quorumGroup.filter { revokedTo[prior.id]?[$0] == epoch }.count
        if count < prior.quorum {
            return [("open-after-revoke", "\(replica): \(epoch) opened with only \(count) of \(prior.quorumGroup.count) revokes of prior \(prior.id)")]
        }
        return []
    }
}
