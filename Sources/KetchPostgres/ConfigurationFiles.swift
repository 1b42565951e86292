/// The text of the files Ketch owns inside a data directory.
struct ConfigurationFiles {
    static let includeLine = "include 'ketch.conf'  # added by Ketch: its settings live there"
    /// Settings that only `ketch.conf` may set; `ALTER SYSTEM` copies of them in
    /// postgresql.auto.conf (e.g. one written by `pg_basebackup -R`) would override ours.
    static let managed: Set<String> = [
        "listen_addresses", "port", "unix_socket_directories", "unix_socket_permissions", "cluster_name",
        "wal_level", "hot_standby", "max_wal_senders", "max_replication_slots", "wal_keep_size", "wal_log_hints",
        "synchronous_commit", "synchronous_standby_names", "primary_conninfo", "recovery_target_timeline",
        "password_encryption", "wal_receiver_status_interval", "wal_retrieve_retry_interval", "recovery_init_sync_method",
        "lc_messages", "logging_collector",
    ]

    var settings: PostgresSettings
    var socketDirectory: String
    var passFile: String?
    var replicationUser: String?
    /// OS users allowed to log in as the superuser over the unix socket (peer authentication).
    var mappedOSUsers: [String]

    var ketchConf: String {
        var lines = [
            "# Written by Ketch for this copy; rewritten whenever its role changes. Do not edit.",
            "listen_addresses = \(quote(settings.listenAddresses.joined(separator: ",")))",
            "port = \(settings.port)",
            "unix_socket_directories = \(quote(socketDirectory))",
            "unix_socket_permissions = 0770",
            "cluster_name = \(quote(settings.applicationName))",
            "wal_level = replica",
            "hot_standby = on",
            "max_wal_senders = \(settings.maxWalSenders)",
            "max_replication_slots = \(settings.maxWalSenders)",
            "wal_keep_size = \(quote("\(settings.walKeepSizeMB)MB"))",
            "wal_log_hints = on",
            "synchronous_commit = on",
            "synchronous_standby_names = \(quote(settings.synchronousStandbys.setting))",
            "primary_conninfo = \(quote(primaryConninfo))",
            "recovery_target_timeline = 'latest'",
            // A standby that has nothing new to flush reports its position only this often, and
            // a commit held by synchronous_standby_names is released only by such a report: the
            // default 10 s made re-opening writes take 10 s (see docs/postgres.md).
            "wal_receiver_status_interval = '1s'",
            // After a failed attempt to stream, a standby tries again only this long after. The
            // default 5 s kept a reopened primary's synchronous standby away (and its commits
            // held) for up to 5 s after the primary restarted or came back from closedPort
            // (pause seed 8015: 4.6 s of a 10.3 s gap without acknowledged writes).
            "wal_retrieve_retry_interval = '1s'",
            "password_encryption = 'scram-sha-256'",
            // Crash recovery (and the first start after pg_basebackup or pg_rewind) begins by
            // syncing the data directory; one syncfs() instead of an fsync per file took that
            // from about 5 s to well under one on the test machine.
            "recovery_init_sync_method = syncfs",
            "log_line_prefix = '%m [%p] '",
            // The node reads Postgres's own lines ("cannot follow", "could not bind", …) from
            // the server log it started Postgres with: in English, and not diverted into the
            // collector's files, whatever a DBA's habit in postgresql.conf.
            "lc_messages = 'C'",
            "logging_collector = off",
        ]
        for name in settings.extra.keys.sorted() {
            lines.append("\(name) = \(quote(settings.extra[name] ?? ""))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// What a standby's walreceiver connects with; its `application_name` is the name the
    /// primary's `synchronous_standby_names` uses.
    var primaryConninfo: String {
        guard let upstream = settings.upstream else { return "" }
        var pairs = [
            ("host", upstream.host), ("port", String(upstream.port)),
            ("user", replicationUser ?? ReplicationCredentials.defaultUser),
            ("application_name", settings.applicationName), ("connect_timeout", "2"),
            ("keepalives_idle", "5"), ("keepalives_interval", "2"), ("keepalives_count", "3"),
        ]
        if let passFile { pairs.append(("passfile", passFile)) }
        return Conninfo.render(pairs)
    }

    var hbaConf: String {
        var lines = [
            "# Written by Ketch. The node reaches the superuser over the socket by peer authentication;",
            "# everyone else, and standbys, use SCRAM passwords.",
            "local   all          \(PostgresInstance.superuser)  peer map=ketch",
            "local   replication  \(PostgresInstance.superuser)  peer map=ketch",
        ]
        guard settings.clientSessions else {
            // Closed and not in recovery: only the node and the replication role get in.
            let replication = replicationUser ?? ReplicationCredentials.defaultUser
            lines.append("local   all          \(replication)  scram-sha-256")
            for network in settings.clientNetworks {
                lines.append("host    replication  all       \(network)  scram-sha-256")
                lines.append("host    all          \(replication)  \(network)  scram-sha-256")
            }
            lines.append("# This copy is closed: no client sessions until Ketch opens it.")
            lines.append("local   all          all       reject")
            for network in settings.clientNetworks { lines.append("host    all          all       \(network)  reject") }
            return lines.joined(separator: "\n") + "\n"
        }
        lines.append("local   all          all       scram-sha-256")
        for network in settings.clientNetworks {
            lines.append("host    replication  all       \(network)  scram-sha-256")
            lines.append("host    all          all       \(network)  scram-sha-256")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var identConf: String {
        var seen = Set<String>()
        let users = mappedOSUsers.filter { seen.insert($0).inserted }
        return "# Written by Ketch: OS users that may act as the superuser over the socket.\n"
            + users.map { "ketch  \($0)  \(PostgresInstance.superuser)" }.joined(separator: "\n") + "\n"
    }

    /// postgresql.auto.conf without lines that set a managed setting.
    static func withoutManagedSettings(_ text: String) -> String {
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            let name = line.split(separator: "=", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            return !managed.contains(name)
        }
        return kept.joined(separator: "\n")
    }

    /// A config-file string literal: single quotes doubled.
    private func quote(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
