import KetchPostgres
import KetchShared

/// Which standbys have gone silent, measured on this node's monotonic clock.
///
/// `pg_stat_replication` keeps a stopped standby `streaming` and `sync` until
/// `wal_sender_timeout`, and every commit waits for it. A live walreceiver replies at least every
/// `wal_receiver_status_interval` (1 s), so a `reply_time` that has not changed for `limit` means
/// its Postgres has stopped. `reply_time` is the standby's own wall clock, so it is only compared
/// with its previous value, never with this server's time: a standby whose clock is behind would
/// otherwise never count as caught up, and one ahead never as silent.
struct StandbyReplies {
    let limit: Span
    private var seen: [String: (replyTime: String?, since: Instant)] = [:]

    init(limit: Span = .seconds(3)) { self.limit = limit }

    /// Updates from one poll and returns the application names of the silent standbys.
    mutating func silent(in standbys: [StandbyReplication], now: Instant) -> Set<String> {
        var next: [String: (replyTime: String?, since: Instant)] = [:]
        var silent: Set<String> = []
        for standby in standbys {
            let name = standby.applicationName
            let since = seen[name].flatMap { $0.replyTime == standby.replyTime ? $0.since : nil } ?? now
            next[name] = (standby.replyTime, since)
            if now - since > limit { silent.insert(name) }
        }
        seen = next
        return silent
    }
}
