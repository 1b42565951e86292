import ArgumentParser
import Foundation
import KetchNode
import Logging

/// Options shared by the root command and its verbs, so both the seed's
/// `ketch-node --api-server server1 --data-dir D run` and `ketch-node start --api-server ...` work.
struct NodeOptions: ParsableArguments {
    @Option(name: .customLong("api-server"), help: "This server's name or address for clients (KETCH_API_SERVER).")
    var apiServer: String?
    @Option(name: .customLong("api-port"), help: "Client API port (KETCH_API_PORT, default 7460).")
    var apiPort: Int?
    @Option(name: .customLong("http-port"), help: "HTTP status port for load balancers and Prometheus: /health, /primary/DB, /replica/DB, /sync/DB, /DB, /metrics (KETCH_HTTP_PORT, default 7461; 0 turns it off).")
    var httpPort: Int?
    @Option(name: .customLong("member-server"), help: "Name or address for peers (KETCH_MEMBER_SERVER, default: the api server).")
    var memberServer: String?
    @Option(name: .customLong("member-port"), help: "Peer protocol port (KETCH_MEMBER_PORT, default 7459).")
    var memberPort: Int?
    @Option(name: .customLong("member-list"), help: "Comma-separated servers of the cluster, NAME or NAME:PORT (KETCH_MEMBER_LIST).")
    var memberList: String?
    @Option(name: .customLong("data-dir"), help: "Where ketch.db and Postgres data live (KETCH_DATA_DIR).")
    var dataDir: String?
    @Option(name: .customLong("db-bin-dir"), help: "Postgres programs (KETCH_DB_BIN_DIR, default /usr/lib/postgresql/15/bin).")
    var dbBinDir: String?
    @Option(name: .customLong("db-user"), help: "OS user that runs Postgres when ketch-node runs as root (KETCH_DB_USER, default postgres).")
    var dbUser: String?
    @Option(name: .customLong("secret-file"), help: "Cluster secret shared by nodes and clients (KETCH_SECRET_FILE, default /etc/ketch/cluster.secret).")
    var secretFile: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (KETCH_LOG_LEVEL, default info).")
    var logLevel: String?
    @Option(name: .customLong("log-format"), help: "text (one line per event, the default) or json (one JSON object per line) (KETCH_LOG_FORMAT).")
    var logFormat: String?
    @Option(name: .customLong("log-file"), help: "Append the log to this file instead of standard error (KETCH_LOG_FILE); rotate it with copytruncate.")
    var logFile: String?
    @Option(name: .customLong("probe-interval-ms"), help: "SWIM protocol period in milliseconds (KETCH_PROBE_INTERVAL_MS, default 200).")
    var probeIntervalMs: Int?
    @Option(name: .customLong("suspicion-timeout-ms"), help: "How long a suspect member has to refute before it is dead, in milliseconds (KETCH_SUSPICION_TIMEOUT_MS, default 800).")
    var suspicionTimeoutMs: Int?
    @Option(name: .customLong("lease-ms"), help: "Primary lease in milliseconds (KETCH_LEASE_MS, default 2000); the same on every node.")
    var leaseMs: Int?
    @Option(name: .customLong("renew-ms"), help: "Lease renewal period in milliseconds (KETCH_RENEW_MS, default: a quarter of the lease, 500 for the default lease).")
    var renewMs: Int?
    @Option(name: .customLong("keep-aside"), help: "Replaced copies of each replica kept set aside in the data dir, newest first (KETCH_KEEP_ASIDE, default 1; 0-100).")
    var keepAside: Int?
    @Option(name: .customLong("postgres-stall-ms"), help: "Give the primary up when its Postgres leaves the status poll unanswered this long while serving (KETCH_POSTGRES_STALL_MS, default 6000 or three leases if longer; 1000-600000, at least the lease; 0 never).")
    var postgresStallMs: Int?

    /// Later values win: verb options over root options.
    func merged(over base: NodeOptions?) -> NodeConfig.Inputs {
        var i = NodeConfig.Inputs()
        i.apiServer = apiServer ?? base?.apiServer
        i.apiPort = apiPort ?? base?.apiPort
        i.httpPort = httpPort ?? base?.httpPort
        i.memberServer = memberServer ?? base?.memberServer
        i.memberPort = memberPort ?? base?.memberPort
        i.memberList = memberList ?? base?.memberList
        i.dataDirectory = dataDir ?? base?.dataDir
        i.dbBinDirectory = dbBinDir ?? base?.dbBinDir
        i.dbUser = dbUser ?? base?.dbUser
        i.secretFile = secretFile ?? base?.secretFile
        i.logLevel = logLevel ?? base?.logLevel
        i.logFormat = logFormat ?? base?.logFormat
        i.logFile = logFile ?? base?.logFile
        i.probeIntervalMs = probeIntervalMs ?? base?.probeIntervalMs
        i.suspicionTimeoutMs = suspicionTimeoutMs ?? base?.suspicionTimeoutMs
        i.leaseMs = leaseMs ?? base?.leaseMs
        i.renewMs = renewMs ?? base?.renewMs
        i.keepAside = keepAside ?? base?.keepAside
        i.postgresStallMs = postgresStallMs ?? base?.postgresStallMs
        return i
    }
}

@main
struct KetchNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ketch-node",
        abstract: "Run a Ketch server: membership, leases and the Postgres copies it holds.",
        subcommands: [Start.self, Run.self])

    @OptionGroup var options: NodeOptions
}

/// Shared by `start` and its seed alias `run`.
protocol StartVerb: AsyncParsableCommand {
    var options: NodeOptions { get }
    var rootOptions: NodeOptions { get }
}

extension StartVerb {
    func startNode() async throws {
        var inputs = options.merged(over: rootOptions)
        do {
            try inputs.fillFromEnvironment(ProcessInfo.processInfo.environment)
            let config = try NodeConfig.resolve(inputs)
            let output = try NodeLogHandler.output(file: config.logFile)
            LoggingSystem.bootstrap { label in
                var handler = NodeLogHandler(label: label, json: config.logFormat == .json, output: output)
                handler.logLevel = config.logLevel
                return handler
            }
            try await NodeMain.run(config: config, logger: Logger(label: "ketch.node"))
        } catch let e as NodeError {
            FileHandle.standardError.write(Data("ketch-node: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Start: StartVerb {
    static let configuration = CommandConfiguration(abstract: "Start this server and run until stopped (SIGTERM or Ctrl-C).")
    @ParentCommand var root: KetchNodeCommand
    @OptionGroup var options: NodeOptions
    var rootOptions: NodeOptions { root.options }
    func run() async throws { try await startNode() }
}

struct Run: StartVerb {
    static let configuration = CommandConfiguration(abstract: "Same as start (the seed's spelling).")
    @ParentCommand var root: KetchNodeCommand
    @OptionGroup var options: NodeOptions
    var rootOptions: NodeOptions { root.options }
    func run() async throws { try await startNode() }
}
