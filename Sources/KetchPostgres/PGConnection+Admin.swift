import Foundation

extension PGConnection {
    /// Creates a login role with a SCRAM password, or updates the password of an existing one.
    /// Only the verifier is sent: the password never reaches the server or its logs.
    public func createRole(_ name: String, password: String, replication: Bool = false) throws {
        guard !name.isEmpty, name.utf8.count <= 63 else {
            throw PostgresError(code: .invalidArgument, message: "role name '\(name)' must be 1 to 63 bytes")
        }
        guard !password.isEmpty else {
            throw PostgresError(code: .invalidArgument, message: "role '\(name)' needs a non-empty password")
        }
        let verifier = try scramVerifier(user: name, password: password)
        let exists = try value("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]) != nil
        let verb = exists ? "ALTER" : "CREATE"
        let attributes = replication ? "LOGIN REPLICATION" : "LOGIN"
        try query("\(verb) ROLE \(Self.quoteIdentifier(name)) \(attributes) PASSWORD \(Self.quoteLiteral(verifier))")
    }

    /// The role standbys stream as. It may also run the functions pg_rewind needs and
    /// CHECKPOINT (`pg_checkpoint`), so a returning old primary can be rewound without a
    /// superuser password.
    public func createReplicationRole(_ credentials: ReplicationCredentials) throws {
        try createRole(credentials.user, password: credentials.password, replication: true)
        let role = Self.quoteIdentifier(credentials.user)
        try query("GRANT pg_checkpoint TO \(role)")
        for function in [
            "pg_catalog.pg_ls_dir(text, boolean, boolean)",
            "pg_catalog.pg_stat_file(text, boolean)",
            "pg_catalog.pg_read_binary_file(text)",
            "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
        ] {
            try query("GRANT EXECUTE ON FUNCTION \(function) TO \(role)")
        }
    }

    /// Creates the database owned by `owner` unless it exists.
    public func createDatabase(_ name: String, owner: String) throws {
        guard !name.isEmpty, name.utf8.count <= 63 else {
            throw PostgresError(code: .invalidArgument, message: "database name '\(name)' must be 1 to 63 bytes")
        }
        if try value("SELECT 1 FROM pg_database WHERE datname = $1", [name]) != nil { return }
        try query("CREATE DATABASE \(Self.quoteIdentifier(name)) OWNER \(Self.quoteIdentifier(owner))")
    }

    public func isInRecovery() throws -> Bool {
        guard let row = try query("SELECT pg_is_in_recovery() AS r").first, let recovering = row.bool("r") else {
            throw PostgresError(code: .badResult, message: "pg_is_in_recovery() returned nothing on \(options)")
        }
        return recovering
    }

    /// Ends recovery with `pg_promote()`; returns once the server accepts writes. Postgres's own
    /// wait looks every 100 ms; the end of recovery itself takes a few milliseconds, so this
    /// asks without waiting and then looks every 5 ms (a failover waits for this).
    public func promote(waitSeconds: Int = 60) throws {
        guard try value("SELECT pg_promote(false)") == "t" else {
            throw PostgresError(code: .promoteFailed, message: "pg_promote() on \(options) was refused (is the server a standby?)")
        }
        let deadline = Date().addingTimeInterval(Double(waitSeconds))
        while try isInRecovery() {
            guard Date() < deadline else {
                throw PostgresError(code: .promoteFailed, message: "pg_promote() on \(options) did not finish within \(waitSeconds) s")
            }
            usleep(5_000)
        }
    }

    /// Makes the server re-read its configuration files (like `pg_ctl reload`).
    public func reloadConfiguration() throws {
        guard try value("SELECT pg_reload_conf()") == "t" else {
            throw PostgresError(code: .reloadFailed, message: "pg_reload_conf() failed on \(options)")
        }
    }

    /// Writes a tiny WAL record so every standby receives, flushes and reports at once. After
    /// `synchronous_standby_names` changes to name standbys that already hold the WAL of the
    /// commits waiting on it, those commits are released by the standbys' next report; this makes
    /// that report come within the WAL writer's delay (200 ms) instead of
    /// `wal_receiver_status_interval`.
    public func nudgeStandbys() throws {
        try query("SELECT pg_logical_emit_message(false, 'ketch', 'nudge')")
    }

    /// Current value of a setting (`SHOW`).
    public func setting(_ name: String) throws -> String? {
        try value("SELECT current_setting($1)", [name])
    }

    /// Ends every client session but this one; returns how many were ended. Part of fencing.
    @discardableResult
    public func terminateClientSessions() throws -> Int {
        let rows = try query("""
            SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
            """).rows
        return rows.filter { $0.bool("ended") == true }.count
    }

    /// Client sessions still there, other than this one and those of `except` (the node's own
    /// superuser): a fence waits for this to reach zero after `terminateClientSessions`.
    public func clientSessionCount(except user: String) throws -> Int {
        let n = try value("""
            SELECT count(*) FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename IS DISTINCT FROM $1
            """, [user])
        return n.flatMap { Int($0) } ?? 0
    }

    /// On a standby streaming from `host`: its replay position and the end of WAL `host` last
    /// reported, when it has replayed past that end — or nil. A walsender reports its own end
    /// of WAL with every message, and a standby can replay only what it received, so a copy that
    /// replayed past its upstream's end holds WAL of another branch: one forked off before the
    /// upstream's timeline began, or the same timeline number promoted elsewhere (reliability
    /// findings 22 and 23). Postgres compares timeline numbers only and streams on; such a copy
    /// can never replay what it receives, so it must not be taken for a standby of `host`.
    public func replayedPastUpstream(host: String) throws -> (replayed: LSN, upstreamEnd: LSN)? {
        guard let row = try query("""
            SELECT pg_last_wal_replay_lsn()::text AS replayed, latest_end_lsn::text AS upstream_end
            FROM pg_stat_wal_receiver
            WHERE status = 'streaming' AND sender_host = $1 AND latest_end_lsn > '0/0'
              AND pg_last_wal_replay_lsn() > latest_end_lsn
            """, [host]).first,
              let replayed = row.lsn("replayed"), let end = row.lsn("upstream_end") else { return nil }
        return (replayed, end)
    }

    /// Role, WAL positions, and each standby streaming from this server with its state and lag.
    public func status() throws -> ServerStatus {
        let main = try query("""
            SELECT pg_is_in_recovery() AS recovering,
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current,
                   pg_last_wal_receive_lsn()::text AS received,
                   pg_last_wal_replay_lsn()::text AS replayed,
                   extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age,
                   (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
                   current_setting('synchronous_standby_names') AS sync_names
            """).first
        guard let main, let recovering = main.bool("recovering") else {
            throw PostgresError(code: .badResult, message: "status query returned nothing on \(options)")
        }
        let current = main.lsn("current")
        // A standby can feed cascading standbys too; their lag is measured from what it received.
        let reference = current ?? main.lsn("received")
        let standbys = try query("""
            SELECT application_name, client_addr::text AS client, state, sync_state,
                   sent_lsn::text AS sent, write_lsn::text AS written, flush_lsn::text AS flushed,
                   replay_lsn::text AS replayed,
                   extract(epoch FROM write_lag)::float8 AS write_lag,
                   extract(epoch FROM flush_lag)::float8 AS flush_lag,
                   extract(epoch FROM replay_lag)::float8 AS replay_lag,
                   reply_time::text AS reply_time
            FROM pg_stat_replication ORDER BY application_name, pid
            """).rows.map { row in
            StandbyReplication(
                applicationName: row["application_name"] ?? "", clientAddress: row["client"],
                state: row["state"] ?? "", syncState: row["sync_state"] ?? "",
                sentLSN: row.lsn("sent"), writeLSN: row.lsn("written"), flushLSN: row.lsn("flushed"),
                replayLSN: row.lsn("replayed"), writeLagSeconds: row.double("write_lag"),
                flushLagSeconds: row.double("flush_lag"), replayLagSeconds: row.double("replay_lag"),
                replyTime: row["reply_time"],
                lagBytes: reference.flatMap { reference in row.lsn("replayed").map { reference.bytes(since: $0) } })
        }
        return ServerStatus(
            role: recovering ? .standby : .primary, timeline: main.int64("timeline"),
            currentLSN: current, receiveLSN: main.lsn("received"), replayLSN: main.lsn("replayed"),
            replayAgeSeconds: main.double("replay_age"),
            synchronousStandbyNames: main["sync_names"] ?? "", standbys: standbys)
    }
}
