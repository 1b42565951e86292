import KetchShared

/// One standby as its primary sees it in `pg_stat_replication`.
public struct StandbyReplication: Sendable, Equatable, Codable {
    /// The standby's `application_name`: its ServerID under Ketch.
    public var applicationName: String
    public var clientAddress: String?
    /// `startup`, `catchup`, `streaming`, `backup`, `stopping`.
    public var state: String
    /// `async`, `potential`, `sync`, `quorum`.
    public var syncState: String
    public var sentLSN: LSN?
    public var writeLSN: LSN?
    public var flushLSN: LSN?
    public var replayLSN: LSN?
    public var writeLagSeconds: Double?
    public var flushLagSeconds: Double?
    public var replayLagSeconds: Double?
    /// `reply_time` as text: when the standby sent its last reply, by the *standby's* clock, so
    /// only whether it changes tells anything here (it replies at least every
    /// `wal_receiver_status_interval`, 1 s, while its Postgres runs).
    public var replyTime: String?
    /// The sending server's current LSN (received LSN on a cascading standby) minus the
    /// standby's replay LSN.
    public var lagBytes: Int64?
}

/// A snapshot of one server: its role, WAL positions, and the standbys streaming from it.
public struct ServerStatus: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable { case primary, standby }
    public var role: Role
    public var timeline: Int64?
    /// `pg_current_wal_lsn()` on a primary; nil on a standby.
    public var currentLSN: LSN?
    /// `pg_last_wal_receive_lsn()`: what a standby has received (nil on a primary).
    public var receiveLSN: LSN?
    /// `pg_last_wal_replay_lsn()`: what a standby has applied (nil on a primary).
    public var replayLSN: LSN?
    /// Seconds since the last replayed transaction committed on the primary (standby only;
    /// grows while the primary is idle, so it is an upper bound on lag).
    public var replayAgeSeconds: Double?
    public var synchronousStandbyNames: String
    public var standbys: [StandbyReplication]

    /// The entry for the standby named `applicationName`, if it is connected.
    public func standby(_ applicationName: String) -> StandbyReplication? {
        standbys.first { $0.applicationName == applicationName }
    }

    /// The feed's view of this server; lag is the worst standby on a primary, and
    /// received-minus-replayed on a standby.
    public func postgresStatus(port: Int) -> PostgresStatus {
        switch role {
        case .primary:
            return PostgresStatus(state: "primary", port: port, lsn: currentLSN?.description, replayLSN: nil,
                                  lagBytes: standbys.compactMap(\.lagBytes).max(),
                                  lagSeconds: standbys.compactMap(\.replayLagSeconds).max())
        case .standby:
            let lag = zip2(receiveLSN, replayLSN).map { $0.bytes(since: $1) }
            return PostgresStatus(state: "standby", port: port, lsn: receiveLSN?.description, replayLSN: replayLSN?.description,
                                  lagBytes: lag, lagSeconds: replayAgeSeconds)
        }
    }
}

private func zip2<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
