import Foundation
import KetchShared
import KetchCore
import Logging

/// Everything `ketch-node start` needs, already resolved and validated.
public struct NodeConfig: Sendable {
    /// This server's name (the seed's `--api-server`), shown in `get server` and the console.
    public var name: String
    public var apiEndpoint: Endpoint
    public var memberEndpoint: Endpoint
    /// Member endpoints of every configured server (the seed's `KETCH_MEMBER_LIST`).
    public var members: [Endpoint]
    public var dataDirectory: String
    public var dbBinDirectory: String
    public var dbUser: String
    public var secretFile: String
    public var membership: MembershipConfig
    public var logLevel: Logger.Level
    public enum LogFormat: String, Sendable, CaseIterable { case text, json }
    public var logFormat: LogFormat = .text
    /// Where the log goes instead of standard error (appended).
    public var logFile: String?

    public init(name: String, apiEndpoint: Endpoint, memberEndpoint: Endpoint, members: [Endpoint], dataDirectory: String,
                dbBinDirectory: String, dbUser: String, secretFile: String, membership: MembershipConfig, logLevel: Logger.Level) {
        self.name = name; self.apiEndpoint = apiEndpoint; self.memberEndpoint = memberEndpoint; self.members = members
        self.dataDirectory = dataDirectory; self.dbBinDirectory = dbBinDirectory; self.dbUser = dbUser
        self.secretFile = secretFile; self.membership = membership; self.logLevel = logLevel
    }

    /// Lease timing. 2 s renewed every 0.5 s measured a 2.95 s median failover (bench/failover,
    /// 6 cycles) against 4.1 s for the 3 s lease; with the 10% drift bound the holder's own lease
    /// is 1.64 s, still three renewals deep.
    public var leaseMs: Int = 2000
    public var renewMs: Int = 500
    /// Replaced copies of each replica a clone leaves in the data dir, newest first; older ones
    /// are deleted then. They never hold an acknowledged write the primary lacks (a copy is
    /// replaced only by a clone of the current primary), so this bounds disk use, not safety.
    public var keepAside: Int = NodeConfig.defaultKeepAside
    public static let defaultKeepAside = 1
    /// How long a serving primary's Postgres may leave the status poll unanswered before this
    /// server gives the primary up (0: never). A hung Postgres (SIGSTOP, storage that stopped
    /// answering) otherwise keeps its lease, renewed by a healthy node, for as long as it
    /// hangs: a 20 s stall cost 20 s without writes. Three leases by default, so a stall a
    /// failover would not shorten (a few seconds) is waited out rather than failed over; with
    /// a longer `--lease-ms`, three of those leases.
    public var postgresStallMs: Int = NodeConfig.defaultPostgresStallMs
    public static let defaultPostgresStallMs = 6000

    func core(server: ServerID) -> CoreConfig {
        CoreConfig(server: server, leaseDuration: .milliseconds(Int64(leaseMs)), renewPeriod: .milliseconds(Int64(renewMs)),
                   dataQuorumStall: CoreConfig.dataQuorumStall(lease: .milliseconds(Int64(leaseMs))))
    }

    public static let defaultAPIPort = 7460
    public static let defaultHTTPPort = 7461
    /// The HTTP status port, on the api address; nil: off.
    public var httpPort: Int? = NodeConfig.defaultHTTPPort
    public static let defaultMemberPort = 7459
    public static let defaultSecretFile = "/etc/ketch/cluster.secret"
    public static let defaultDBBinDirectory = "/usr/lib/postgresql/15/bin"

    /// Unresolved inputs, as given by flags or the seed's environment variables.
    public struct Inputs: Sendable {
        public var apiServer: String?
        public var apiPort: Int?
        public var httpPort: Int?
        public var logFormat: String?
        public var logFile: String?
        public var memberServer: String?
        public var memberPort: Int?
        public var memberList: String?
        public var dataDirectory: String?
        public var dbBinDirectory: String?
        public var dbUser: String?
        public var secretFile: String?
        public var logLevel: String?
        public var probeIntervalMs: Int?
        public var suspicionTimeoutMs: Int?
        public var leaseMs: Int?
        public var renewMs: Int?
        public var keepAside: Int?
        public var postgresStallMs: Int?
        public init() {}

        /// Fills what is still nil from the `KETCH_*` environment variables.
        public mutating func fillFromEnvironment(_ env: [String: String]) throws(NodeError) {
            func int(_ key: String) throws(NodeError) -> Int? {
                guard let v = env[key], !v.isEmpty else { return nil }
                guard let i = Int(v) else { throw NodeError("bad-env", "\(key)='\(v)' is not a whole number") }
                return i
            }
            func str(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
            apiServer = apiServer ?? str("KETCH_API_SERVER")
            if apiPort == nil { apiPort = try int("KETCH_API_PORT") }
            if httpPort == nil { httpPort = try int("KETCH_HTTP_PORT") }
            memberServer = memberServer ?? str("KETCH_MEMBER_SERVER")
            if memberPort == nil { memberPort = try int("KETCH_MEMBER_PORT") }
            memberList = memberList ?? str("KETCH_MEMBER_LIST")
            dataDirectory = dataDirectory ?? str("KETCH_DATA_DIR")
            dbBinDirectory = dbBinDirectory ?? str("KETCH_DB_BIN_DIR")
            dbUser = dbUser ?? str("KETCH_DB_USER")
            secretFile = secretFile ?? str("KETCH_SECRET_FILE")
            logLevel = logLevel ?? str("KETCH_LOG_LEVEL")
            logFormat = logFormat ?? str("KETCH_LOG_FORMAT")
            logFile = logFile ?? str("KETCH_LOG_FILE")
            if leaseMs == nil { leaseMs = try int("KETCH_LEASE_MS") }
            if renewMs == nil { renewMs = try int("KETCH_RENEW_MS") }
            if probeIntervalMs == nil { probeIntervalMs = try int("KETCH_PROBE_INTERVAL_MS") }
            if suspicionTimeoutMs == nil { suspicionTimeoutMs = try int("KETCH_SUSPICION_TIMEOUT_MS") }
            if keepAside == nil { keepAside = try int("KETCH_KEEP_ASIDE") }
            if postgresStallMs == nil { postgresStallMs = try int("KETCH_POSTGRES_STALL_MS") }
        }
    }

    /// Validates and resolves inputs. Throws one clear error for the first problem found.
    public static func resolve(_ i: Inputs) throws(NodeError) -> NodeConfig {
        guard let apiServer = i.apiServer else {
            throw NodeError("missing-api-server", "no server name: pass --api-server NAME or set KETCH_API_SERVER")
        }
        guard let dataDir = i.dataDirectory else {
            throw NodeError("missing-data-dir", "no data dir: pass --data-dir DIR or set KETCH_DATA_DIR")
        }
        let apiPort = try port(i.apiPort ?? defaultAPIPort, "api port")
        let memberPort = try port(i.memberPort ?? defaultMemberPort, "member port")
        guard apiPort != memberPort else {
            throw NodeError("bad-port", "api port and member port are both \(apiPort); they must differ")
        }
        var httpPort: Int?
        if i.httpPort != 0 {
            let p = try port(i.httpPort ?? defaultHTTPPort, "http port")
            guard p != apiPort, p != memberPort else {
                throw NodeError("bad-port", "http port \(p) is also the api or member port; give it a port of its own (default 7461), or 0 to turn it off")
            }
            httpPort = p
        }
        let apiAddr = try HostResolver.ipv4(of: apiServer)
        let memberAddr = try HostResolver.ipv4(of: i.memberServer ?? apiServer)
        let me = Endpoint(addr: memberAddr, port: memberPort)

        var members: [Endpoint] = []
        for item in (i.memberList ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let (host, p) = try HostResolver.hostAndPort(item, defaultPort: memberPort)
            members.append(Endpoint(addr: try HostResolver.ipv4(of: host), port: p))
        }
        if !members.contains(me) { members.append(me) }

        let level: Logger.Level
        if let l = i.logLevel {
            guard let parsed = Logger.Level(rawValue: l.lowercased()) else {
                throw NodeError("bad-log-level", "log level '\(l)' is not one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            level = parsed
        } else { level = .info }

        var membership = MembershipConfig()
        if let ms = i.probeIntervalMs {
            guard (10...10_000).contains(ms) else { throw NodeError("bad-timing", "probe interval \(ms) ms is outside 10-10000 ms") }
            membership.probeInterval = .milliseconds(Int64(ms))
            membership.probeTimeout = .milliseconds(Int64(max(ms / 2, 5)))
        }
        if let ms = i.suspicionTimeoutMs {
            guard (10...60_000).contains(ms) else { throw NodeError("bad-timing", "suspicion timeout \(ms) ms is outside 10-60000 ms") }
            membership.suspicionTimeout = .milliseconds(Int64(ms))
        }

        var leaseMs = 2000, renewMs = 500
        if let l = i.leaseMs {
            guard (500...60_000).contains(l) else { throw NodeError("bad-timing", "lease \(l) ms is outside 500-60000 ms") }
            leaseMs = l
            renewMs = max(l / 4, 100)
        }
        if let r = i.renewMs { renewMs = r }
        guard renewMs > 0, renewMs * 2 <= leaseMs else {
            throw NodeError("bad-timing", "renew period \(renewMs) ms must be at most half the lease (\(leaseMs) ms)")
        }

        let expanded = (dataDir as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        var config = NodeConfig(name: apiServer, apiEndpoint: Endpoint(addr: apiAddr, port: apiPort), memberEndpoint: me,
                          members: members.sorted(), dataDirectory: (absolute as NSString).standardizingPath,
                          dbBinDirectory: i.dbBinDirectory ?? defaultDBBinDirectory, dbUser: i.dbUser ?? "postgres",
                          secretFile: i.secretFile ?? defaultSecretFile, membership: membership, logLevel: level)
        config.leaseMs = leaseMs
        config.renewMs = renewMs
        config.httpPort = httpPort
        if let f = i.logFormat {
            guard let format = LogFormat(rawValue: f.lowercased()) else {
                throw NodeError("bad-log-format", "log format '\(f)' is not one of: text, json")
            }
            config.logFormat = format
        }
        if let file = i.logFile {
            guard !file.isEmpty, !file.hasSuffix("/") else {
                throw NodeError("bad-log-file", "log file '\(file)' is not a file path; give a file such as /var/log/ketch/node.log")
            }
            config.logFile = file
        }
        if let k = i.keepAside {
            guard (0...100).contains(k) else {
                throw NodeError("bad-keep-aside", "keep-aside \(k) is outside 0-100 (how many replaced copies of each replica to keep; 0 deletes them at once)")
            }
            config.keepAside = k
        }
        if let s = i.postgresStallMs {
            guard s == 0 || (1000...600_000).contains(s) else {
                throw NodeError("bad-postgres-stall", "postgres stall \(s) ms is outside 1000-600000 ms (how long a serving primary's Postgres may go unanswered before the primary is given up; 0 never gives it up)")
            }
            guard s == 0 || s >= leaseMs else {
                throw NodeError("bad-postgres-stall", "postgres stall \(s) ms is shorter than the lease (\(leaseMs) ms); a stall shorter than a lease is over before a failover could help")
            }
            config.postgresStallMs = s
        } else {
            config.postgresStallMs = max(defaultPostgresStallMs, 3 * leaseMs)
        }
        return config
    }

    private static func port(_ p: Int, _ what: String) throws(NodeError) -> Int {
        guard (1...65535).contains(p) else { throw NodeError("bad-port", "\(what) \(p) is outside 1-65535") }
        return p
    }
}
