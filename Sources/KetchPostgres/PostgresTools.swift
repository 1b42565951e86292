import Foundation

/// Where the Postgres programs are and which OS user runs them.
///
/// Postgres refuses to run as root, so when this process is root every program runs as
/// `osUser` through `runuser`; otherwise programs run as the current user and `osUser` is
/// ignored.
public struct PostgresTools: Sendable, Equatable {
    public static let defaultBinDirectory = "/usr/lib/postgresql/15/bin"
    public static let programs = ["initdb", "pg_ctl", "postgres", "pg_basebackup", "pg_rewind", "pg_controldata"]

    public var binDirectory: String
    public var osUser: String
    /// How much lower than the node's the scheduling priority of every Postgres program is
    /// (`nice -n`; 0: the same). The node renews one lease per database every renew period and
    /// answers membership probes every 100 ms; on a machine whose cores are busy with Postgres
    /// (eight parallel clones and promotes on two cores) it was not scheduled for 1.3 s, and all
    /// six leases it held ran out at once (issue 22). Postgres at a lower priority only yields
    /// when the cores are contended, and then the control plane must win: a lost lease costs
    /// every client a failover.
    public var niceness: Int = 5

    public init(binDirectory: String = PostgresTools.defaultBinDirectory, osUser: String = "postgres") {
        self.binDirectory = binDirectory
        self.osUser = osUser
    }

    /// True when programs must be started through `runuser`.
    public var switchesUser: Bool { geteuid() == 0 && osUser != "root" }

    /// The account Postgres files must belong to.
    public func account() throws -> OSAccount {
        if !switchesUser { return OSAccount(name: OSAccount.currentName(), uid: geteuid(), gid: getegid()) }
        guard let account = OSAccount.lookup(osUser) else {
            throw PostgresError(code: .userMissing, message: "OS user '\(osUser)' does not exist; create it (apt install postgresql-15 does) or pass another --db-user")
        }
        guard account.uid != 0 else {
            throw PostgresError(code: .invalidArgument, message: "OS user '\(osUser)' has uid 0, and Postgres refuses to run as root; pass an unprivileged --db-user")
        }
        return account
    }

    /// Checks that every program we use exists and is executable, and that the OS user exists.
    public func check() throws {
        let missing = Self.programs.filter { !FileManager.default.isExecutableFile(atPath: path(of: $0)) }
        if !missing.isEmpty {
            throw PostgresError(code: .binariesMissing, message: "Postgres programs missing from '\(binDirectory)': \(missing.joined(separator: ", ")); install postgresql-15 or set KETCH_DB_BIN_DIR to its bin directory")
        }
        if switchesUser, !FileManager.default.isExecutableFile(atPath: OSAccount.runuser) {
            throw PostgresError(code: .binariesMissing, message: "\(OSAccount.runuser) is missing; it is needed to run Postgres as '\(osUser)' from root (package util-linux)")
        }
        _ = try account()
    }

    public func path(of program: String) -> String {
        (binDirectory as NSString).appendingPathComponent(program)
    }

    /// The version line of `postgres --version`, e.g. `postgres (PostgreSQL) 15.14`.
    public func version() async throws -> String {
        let output = try await ProgramRunner(tools: self).run("postgres", ["--version"], timeout: .seconds(10))
        guard output.status == 0 else {
            throw PostgresError(code: .binariesMissing, message: "\(path(of: "postgres")) --version failed", postgresLine: output.errorLine)
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A local OS account.
public struct OSAccount: Sendable, Equatable {
    public static let runuser = "/usr/sbin/runuser"
    public var name: String
    public var uid: uid_t
    public var gid: gid_t

    public static func lookup(_ name: String) -> OSAccount? {
        guard let entry = getpwnam(name) else { return nil }
        return OSAccount(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    static func currentName() -> String {
        guard let entry = getpwuid(geteuid()) else { return String(geteuid()) }
        return String(cString: entry.pointee.pw_name)
    }
}
