/// Whom a primary waits for before a commit returns.
public enum SynchronousStandbys: Sendable, Equatable {
    /// Commits return after the local flush (a data quorum of one).
    case none
    /// Commits wait for every named standby (`FIRST n (...)` with n = all of them): the PDF's
    /// Step 5, where the names are the other data-quorum members' application names.
    case all([String])
    /// Commits wait for a standby that never exists, so no write is acknowledged. Commits that
    /// wait are already visible to other sessions on this server (see PITFALLS.md).
    case holdWrites

    /// The name used by `.holdWrites`; no standby may use it.
    public static let holdName = "ketch_hold_writes"

    /// The value of `synchronous_standby_names`.
    public var setting: String {
        switch self {
        case .none: return ""
        case .all(let names) where names.isEmpty: return ""
        case .all(let names):
            let quoted = names.map { "\"\($0)\"" }.joined(separator: ", ")
            return "FIRST \(names.count) (\(quoted))"
        case .holdWrites: return "FIRST 1 (\"\(Self.holdName)\")"
        }
    }
}

/// A server to stream from (a standby's upstream) or to copy from (basebackup, rewind).
public struct UpstreamServer: Sendable, Equatable {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) { self.host = host; self.port = port }
}

/// The replication role standbys log in as. `description` never shows the password.
public struct ReplicationCredentials: Sendable, Equatable, CustomStringConvertible {
    public static let defaultUser = "ketch_replication"
    public var user: String
    public var password: String
    public init(user: String = ReplicationCredentials.defaultUser, password: String) {
        self.user = user; self.password = password
    }
    public var description: String { "ReplicationCredentials(user: \(user), password: <redacted>)" }
}

/// Everything Ketch decides about one Postgres copy; rendered into `ketch.conf`, `pg_hba.conf`
/// and `pg_ident.conf`. The node keeps one value per copy, changes it, and calls `apply`.
public struct PostgresSettings: Sendable, Equatable {
    /// Addresses the service listens on. Empty means unix socket only (no client can reach it
    /// over TCP: a "closed" server that libpq multi-host strings skip).
    public var listenAddresses: [String]
    public var port: Int
    /// This server's ID: used as `cluster_name` and as the `application_name` a standby streams
    /// under, so a primary's `synchronous_standby_names` can name it.
    public var applicationName: String
    public var synchronousStandbys: SynchronousStandbys
    /// Set on a standby: the primary it streams from.
    public var upstream: UpstreamServer?
    /// Networks allowed to connect with a password (clients and replication).
    public var clientNetworks: [String]
    public var maxWalSenders: Int
    /// WAL kept for standbys that fall behind and for pg_rewind.
    public var walKeepSizeMB: Int
    /// Further `name = value` lines, e.g. `shared_buffers`. Values are written as given.
    public var extra: [String: String]
    /// Whether client sessions may log in. A copy that is not in recovery and not open (a
    /// primary before Step 9, a fenced one) must refuse them: "closed" is otherwise advisory
    /// inside Postgres, and any session could `SET default_transaction_read_only = off` and
    /// `synchronous_commit = local` and have a commit acknowledged that no standby holds.
    /// False leaves the superuser over the socket (the node) and the replication role
    /// (standbys, pg_basebackup, pg_rewind) in.
    public var clientSessions: Bool

    public init(listenAddresses: [String], port: Int, applicationName: String,
                synchronousStandbys: SynchronousStandbys = .none, upstream: UpstreamServer? = nil,
                clientNetworks: [String] = ["127.0.0.0/8"], maxWalSenders: Int = 10, walKeepSizeMB: Int = 256,
                extra: [String: String] = [:], clientSessions: Bool = true) {
        self.listenAddresses = listenAddresses; self.port = port; self.applicationName = applicationName
        self.synchronousStandbys = synchronousStandbys; self.upstream = upstream
        self.clientNetworks = clientNetworks; self.maxWalSenders = maxWalSenders
        self.walKeepSizeMB = walKeepSizeMB; self.extra = extra; self.clientSessions = clientSessions
    }

    /// Refuses values that would break the config file or a conninfo string.
    func validate() throws {
        guard (1...65_535).contains(port) else {
            throw PostgresError(code: .invalidArgument, message: "port \(port) is not between 1 and 65535")
        }
        try Self.checkToken(applicationName, what: "application name")
        if applicationName.utf8.count > 63 {
            throw PostgresError(code: .invalidArgument, message: "application name '\(applicationName)' is longer than Postgres's 63-byte limit")
        }
        for address in listenAddresses { try Self.checkToken(address, what: "listen address") }
        for network in clientNetworks { try Self.checkToken(network, what: "client network") }
        if let upstream { try Self.checkToken(upstream.host, what: "upstream host") }
        if case .all(let names) = synchronousStandbys {
            for name in names { try Self.checkToken(name, what: "synchronous standby name") }
        }
        for (name, value) in extra {
            try Self.checkToken(name, what: "setting name")
            if value.contains("\n") || value.contains("'") {
                throw PostgresError(code: .invalidArgument, message: "value of setting '\(name)' contains a quote or newline")
            }
        }
    }

    /// Names, addresses and hosts end up inside quoted config values and conninfo strings.
    static func checkToken(_ value: String, what: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@%")
        guard !value.isEmpty, value.allSatisfy({ allowed.contains($0) }) else {
            throw PostgresError(code: .invalidArgument, message: "\(what) '\(value)' is empty or contains characters other than letters, digits and -_.:/@%")
        }
    }
}
