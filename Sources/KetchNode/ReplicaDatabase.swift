import Foundation
import KetchCore
import KetchPostgres
import KetchShared
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Carries out the core's database actions for one replica's copy on this server, one at a time,
/// and tells the node what happened (as `DatabaseReport`s fed back to the core).
///
/// How "closed" and "open" look to clients, without a restart on the failover path:
/// every copy with data listens on the service port at this server's address; a closed copy
/// (standby, or a promoted primary whose epoch is not open, or a fenced one) runs with
/// `default_transaction_read_only = on`, which libpq's `target_session_attrs=read-write` sees as
/// a read-only server and skips, and with commits held by a missing synchronous standby. Opening
/// is a reload that turns read-only off; closing is a reload back plus terminating every client
/// session. The lease deadline is also handed to `ketch-fence`, which kills Postgres at the
/// deadline even when this process is paused.
actor ReplicaDatabase {
    let replica: ReplicaID
    private(set) var spec: ReplicaSpec
    private let me: ServerID
    private let listenAddress: String
    let instance: PostgresInstance
    private let replication: ReplicationCredentials
    private let report: @Sendable (DatabaseReport) async -> Void
    private let address: @Sendable (ServerID) async -> String?
    let leaseGuard: LeaseGuard
    private var logger: Logger
    private var settings: PostgresSettings
    private var admin: PGConnection?
    /// Actions in the order the core gave them; fence and lease extension go on their own
    /// stream so they never wait behind a long clone or rewind.
    private nonisolated let ordered = ActionQueue()
    private nonisolated let urgent: (stream: AsyncStream<DatabaseAction>, continuation: AsyncStream<DatabaseAction>.Continuation)
    private var workers: [Task<Void, Never>] = []

    private var pollTask: Task<Void, Never>?
    /// Short words for `get dbmgr` and the feed: stopped, initialising, cloning, standby, primary,
    /// open, fenced, rewinding, failed.
    private(set) var state = "stopped"
    private(set) var lastError: String?
    private(set) var lastStatus: ServerStatus?
    private var following: ServerID?
    /// The data-quorum standbys Step 5 named; closing replaces them with the hold, so opening
    /// again (a new epoch with the same data quorum gets no new Step 5) must name them again.
    private var dataQuorumStandbys: SynchronousStandbys?
    private var isOpen = false
    private var stopped = false

    /// Slack between the core's lease end and the watchdog's kill, for the kill itself.
    static let watchdogMargin = Span.milliseconds(50)
    static let pollPeriodNanoseconds: UInt64 = 500_000_000

    init(replica: ReplicaID, spec: ReplicaSpec, me: ServerID, listenAddress: String, ketchDataDirectory: String,
         tools: PostgresTools, replication: ReplicationCredentials, logger: Logger,
         address: @escaping @Sendable (ServerID) async -> String?, report: @escaping @Sendable (DatabaseReport) async -> Void) throws {
        self.replica = replica
        self.spec = spec
        self.me = me
        self.listenAddress = listenAddress
        self.instance = try PostgresInstance(tools: tools, ketchDataDirectory: ketchDataDirectory, replica: replica)
        self.replication = replication
        self.address = address
        self.report = report
        self.leaseGuard = LeaseGuard(ketchDataDirectory: ketchDataDirectory, replica: replica, postgresDataDirectory: instance.dataDirectory)
        var logger = logger
        logger[metadataKey: "replica"] = .string(spec.name)
        logger[metadataKey: "replica.id"] = .string(replica.short)
        self.logger = logger
        self.settings = PostgresSettings(listenAddresses: [listenAddress], port: spec.dbConfig.port, applicationName: me.rawValue,
                                         synchronousStandbys: .holdWrites, clientNetworks: NodeHooks.clientNetworks, extra: Self.closedExtra)
        self.urgent = AsyncStream.makeStream(of: DatabaseAction.self)
    }

    /// Hands an action over without waiting; order is kept per stream.
    nonisolated func performSoon(_ action: DatabaseAction) {
        switch action {
        case .fence, .extendLease: urgent.continuation.yield(action)
        default:
            ordered.push(action)
        }
    }

    private static let closedExtra = ["default_transaction_read_only": "on", "hot_standby": "on", "wal_log_hints": "on"]

    var hasData: Bool { FileManager.default.fileExists(atPath: instance.dataDirectory + "/PG_VERSION") }

    /// After a node restart: bring an existing copy back up *closed*, as it was (standby or
    /// primary), and let the core decide the rest. Runs before any queued action.
    private func resume() async {
        guard hasData else { return }
        let wasStandby = FileManager.default.fileExists(atPath: instance.dataDirectory + "/standby.signal")
        state = wasStandby ? "standby" : "primary"
        do {
            try await close(reason: "node restart")
            if instance.postmaster()?.isAlive != true { _ = try await instance.start() }
        } catch { fail(error, doing: "resume") }
    }

    // MARK: Actions

    private func startWorkers(resuming: Bool) {
        guard workers.isEmpty else { return }
        let ordered = self.ordered, urgent = self.urgent.stream
        workers.append(Task { [weak self] in
            if resuming { await self?.resume() }
            for await _ in ordered.wakeups {
                while let action = ordered.pop() {
                    guard let self else { return }
                    await self.runLogged(action)
                }
            }
        })
        workers.append(Task { [weak self] in
            for await action in urgent {
                guard let self else { return }
                await self.runUrgent(action)
            }
        })
    }

    private func runUrgent(_ action: DatabaseAction) async {
        switch action {
        case .fence:
            await fenceNow()
        case .extendLease(let until):
            guard isOpen else { return }
            do { try leaseGuard.open(until: until - Self.watchdogMargin) } catch { fail(error, doing: "extend lease") }
        default:
            await runLogged(action)
        }
    }

    private func runLogged(_ action: DatabaseAction) async {
        guard !stopped else { return }
        logger.info("database: \(action)")
        // A copy is often asked to clone or follow a primary whose Postgres is still starting
        // (Step 5 runs while the primary initialises): retry those for a while before failing.
        let retries: Int
        switch action {
        case .clone, .follow: retries = Self.copyRetries
        default: retries = 0
        }
        var attempt = 0
        while true {
            do { try await run(action); return } catch {
                attempt += 1
                if ordered.count > 0 {
                    logger.notice("database: \(action) abandoned for a newer action after: \(error)")
                    return
                }
                guard attempt <= retries, !stopped, !Task.isCancelled else { fail(error, doing: "\(action)"); return }
                logger.notice("database: \(action) failed (attempt \(attempt)), retrying: \(error)")
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }

    static let copyRetries = 60

    private func run(_ action: DatabaseAction) async throws {
        switch action {
        case .initialise(let spec): try await initialise(spec)
        case .clone(let from): try await clone(from: from)
        case .follow(let primary): try await follow(primary)
        case .promote: try await promote()
        case .setSynchronousStandbys(let ids):
            settings.synchronousStandbys = ids.isEmpty ? .none : .all(ids.map(\.rawValue))
            dataQuorumStandbys = settings.synchronousStandbys
            try await instance.apply(settings, replication: replication)
            await nudge()
        case .openToClients(let until): try await open(until: until)
        case .stop: try await stop()
        case .fence, .extendLease: break
        }
    }

    private func initialise(_ spec: ReplicaSpec) async throws {
        self.spec = spec
        state = "initialising"
        if !hasData { try await instance.initialize() }
        // Creating roles commits; with writes held those commits would wait forever.
        settings = closedSettings(upstream: nil)
        settings.synchronousStandbys = .none
        try instance.writeConfiguration(settings, replication: replication)
        _ = try await instance.start()
        let c = try await adminConnection()
        try await c.query("SET default_transaction_read_only = off")
        try await c.createRole(spec.dbConfig.username, password: spec.dbConfig.password)
        try await c.createReplicationRole(replication)
        try await c.createDatabase(spec.name, owner: spec.dbConfig.username)
        settings.synchronousStandbys = .holdWrites
        try await instance.apply(settings, replication: replication)
        state = "primary"
        lastError = nil
        await report(.initialised(replica))
    }

    private func clone(from source: ServerID) async throws {
        guard let host = await address(source) else { throw NodeError("unknown-server", "no address known for server \(source.short)") }
        if following == source, hasData, await streams(from: host, within: 0) {
            await report(.following(replica, primary: source))
            return
        }
        try requireReachable(host, source)
        state = "cloning"
        try await closeAdmin()
        try await instance.stop(mode: .immediate)
        if hasData {
            let aside = try instance.setAside()
            logger.notice("old copy set aside before clone", metadata: ["path": .string(aside)])
        } else if FileManager.default.fileExists(atPath: instance.dataDirectory) {
            // What an interrupted pg_basebackup left: not data anyone wrote, safe to clear.
            try FileManager.default.removeItem(atPath: instance.dataDirectory)
        }
        settings = closedSettings(upstream: UpstreamServer(host: host, port: spec.dbConfig.port))
        try await instance.baseBackup(from: UpstreamServer(host: host, port: spec.dbConfig.port), replication: replication, settings: settings)
        _ = try await instance.start()
        following = source
        state = "standby"
        lastError = nil
        await report(.following(replica, primary: source))
    }

    /// Streams from `primary`: re-point a standby by reload; rewind a copy that was a primary or
    /// that cannot follow; re-clone (old copy set aside) when rewinding fails.
    private func follow(_ primary: ServerID) async throws {
        guard let host = await address(primary) else { throw NodeError("unknown-server", "no address known for server \(primary.short)") }
        guard hasData else { return try await clone(from: primary) }
        if following == primary, await streams(from: host, within: 0) {
            await report(.following(replica, primary: primary))
            return
        }
        try requireReachable(host, primary)
        let upstream = UpstreamServer(host: host, port: spec.dbConfig.port)
        let running = instance.postmaster()?.isAlive == true
        var wasPrimary = !FileManager.default.fileExists(atPath: instance.dataDirectory + "/standby.signal")
        if running, let c = try? await adminConnection(), let recovering = try? await c.isInRecovery() { wasPrimary = !recovering }
        settings = closedSettings(upstream: upstream)
        if !wasPrimary && running {
            try await instance.apply(settings, replication: replication)
            if await streams(from: host, within: 5) {
                following = primary
                state = "standby"
                lastError = nil
                await report(.following(replica, primary: primary))
                return
            }
            logger.notice("standby does not stream from the new primary; rewinding", metadata: ["primary": .string(host)])
        }
        state = "rewinding"
        try await closeAdmin()
        try await instance.stop(mode: .fast)
        do {
            try await instance.rewind(from: upstream, replication: replication, settings: settings)
        } catch {
            logger.warning("pg_rewind failed, re-cloning: \(error)")
            return try await clone(from: primary)
        }
        _ = try await instance.start()
        following = primary
        state = "standby"
        lastError = nil
        await report(.following(replica, primary: primary))
    }

    private func requireReachable(_ host: String, _ server: ServerID) throws {
        guard acceptsConnections(host: host, port: spec.dbConfig.port) else {
            throw NodeError("source-unreachable", "Postgres of server \(server.short) at \(host):\(spec.dbConfig.port) does not accept connections; this copy is left as it is")
        }
    }

    /// Commits held before the synchronous standbys were named are released by the standbys'
    /// next report; a tiny WAL record makes that report come at once.
    private func nudge() async {
        guard let c = try? await adminConnection() else { return }
        _ = try? await c.nudgeStandbys()
    }

    private func streams(from host: String, within seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if let c = try? await adminConnection(),
               let v = try? await c.value("SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'"), v == host {
                return true
            }
            if seconds > 0 { try? await Task.sleep(nanoseconds: 100_000_000) }
        } while Date() < deadline
        return false
    }

    private func promote() async throws {
        dataQuorumStandbys = nil
        settings = closedSettings(upstream: nil)
        settings.synchronousStandbys = .holdWrites
        try instance.writeConfiguration(settings, replication: replication)
        if instance.postmaster()?.isAlive != true { _ = try await instance.start() }
        let c = try await adminConnection()
        if try await c.isInRecovery() {
            try await c.reloadConfiguration()
            try await instance.promote()
        }
        following = nil
        state = "primary"
        lastError = nil
        await report(.promoted(replica))
    }

    /// Step 9 on this server: the watchdog learns the deadline first, then clients are let in.
    private func open(until: Instant) async throws {
        guard MonotonicClock.now() < until - Self.watchdogMargin else { return }
        try leaseGuard.open(until: until - Self.watchdogMargin)
        settings.extra["default_transaction_read_only"] = "off"
        if let named = dataQuorumStandbys { settings.synchronousStandbys = named }
        try await instance.apply(settings, replication: replication)
        await nudge()
        isOpen = true
        state = "open"
        logger.notice("open to clients")
    }

    private func fenceNow() async {
        guard isOpen || state == "primary" || state == "open" else { return }
        do { try await close(reason: "lease") } catch { fail(error, doing: "fence") }
        state = "fenced"
    }

    /// Closed to clients: read-only for new transactions, commits held, sessions ended.
    private func close(reason: String) async throws {
        isOpen = false
        settings.extra["default_transaction_read_only"] = "on"
        if !FileManager.default.fileExists(atPath: instance.dataDirectory + "/standby.signal") { settings.synchronousStandbys = .holdWrites }
        if instance.postmaster()?.isAlive == true {
            try await instance.apply(settings, replication: replication)
            if let c = try? await adminConnection() { _ = try? await c.terminateClientSessions() }
        } else {
            try instance.writeConfiguration(settings, replication: replication)
        }
        try leaseGuard.closed()
        logger.notice("closed to clients (\(reason))")
    }

    private func stop() async throws {
        stopped = true
        isOpen = false
        try? await closeAdmin()
        try await instance.stop(mode: .fast)
        try? leaseGuard.closed()
        leaseGuard.stopWatchdog()
        pollTask?.cancel()
        state = "stopped"
    }

    /// A graceful node stop: close to clients, stop Postgres (data kept), stop the watchdog.
    func shutdown() async {
        pollTask?.cancel()
        for w in workers { w.cancel() }
        ordered.finish()
        urgent.continuation.finish()
        stopped = true
        if instance.postmaster()?.isAlive == true {
            try? await close(reason: "node stopping")
            try? await closeAdmin()
            try? await instance.stop(mode: .fast, timeout: .seconds(20))
        }
        try? await closeAdmin()
        leaseGuard.stopWatchdog()
    }

    private func closedSettings(upstream: UpstreamServer?) -> PostgresSettings {
        PostgresSettings(listenAddresses: [listenAddress], port: spec.dbConfig.port, applicationName: me.rawValue,
                         synchronousStandbys: upstream == nil ? .holdWrites : .none, upstream: upstream,
                         clientNetworks: NodeHooks.clientNetworks, extra: Self.closedExtra)
    }

    // MARK: Status

    /// Starts the action workers (after bringing an existing copy back up when `resuming`)
    /// and the status poll.
    func start(resuming: Bool) {
        startWorkers(resuming: resuming)
        guard pollTask == nil else { return }
        pollTask = Task { [weak self] in
            while !Task.isCancelled {
                await self?.poll()
                try? await Task.sleep(nanoseconds: ReplicaDatabase.pollPeriodNanoseconds)
            }
        }
    }

    private func poll() async {
        // A postmaster that died under us (kill -9, OOM) is started again; nothing else would, and a
        // primary holding its lease with no Postgres is a database that is down for good.
        if !stopped, hasData, instance.postmaster()?.isAlive != true, ["open", "primary", "standby", "fenced"].contains(state),
           guardAllowsRestart() {
            logger.warning("postmaster is gone; starting it again")
            try? await closeAdmin()
            do { _ = try await instance.start() } catch { fail(error, doing: "restart after the postmaster exited") }
            return
        }
        guard !stopped, hasData, instance.postmaster()?.isAlive == true, !["cloning", "rewinding", "initialising"].contains(state) else { return }
        do {
            let c = try await adminConnection()
            let s = try await c.status()
            lastStatus = s
            if s.role == .primary {
                let caughtUp = s.standbys.filter { $0.state == "streaming" && ($0.syncState == "sync" || $0.syncState == "quorum" || ($0.flushLSN ?? .init(0)) >= (s.currentLSN ?? .init(UInt64.max))) }
                    .map { ServerID($0.applicationName) }
                await report(.replication(replica, caughtUp: caughtUp.sorted()))
            }
            var ps = s.postgresStatus(port: spec.dbConfig.port)
            ps.state = state == "open" ? "primary-open" : ps.state == "primary" ? "primary-closed" : ps.state
            await report(.status(replica, ps))
        } catch {
            try? await closeAdmin()
        }
    }

    /// Never bring back a postmaster that `ketch-fence` killed at the lease end (guard `fenced`,
    /// or `open` with its deadline passed): the node may still think it is open, and a restart
    /// would serve read-write with nothing guarding it. Closed guards and unexpired leases are fine.
    private func guardAllowsRestart() -> Bool {
        let words = (leaseGuard.current() ?? "closed").split(whereSeparator: { $0 == " " || $0 == "\n" })
        switch words.first {
        case "fenced": return false
        case "open": return words.count > 1 && Int64(words[1]).map { MonotonicClock.now().nanoseconds < $0 } ?? false
        default: return true
        }
    }

    func postgresStatus() -> PostgresStatus {
        var ps = lastStatus?.postgresStatus(port: spec.dbConfig.port) ?? PostgresStatus(state: state, port: spec.dbConfig.port)
        ps.state = state
        ps.error = lastError
        return ps
    }

    private func adminConnection() async throws -> PGConnection {
        if let a = admin { return a }
        let c = try await PGConnection.connect(instance.adminConnectionOptions(port: spec.dbConfig.port, connectTimeoutSeconds: 2))
        admin = c
        return c
    }

    private func closeAdmin() async throws {
        if let a = admin { await a.close() }
        admin = nil
    }

    private func fail(_ error: Error, doing what: String) {
        let line = (error as? PostgresError).map { $0.postgresLine ?? $0.message } ?? "\(error)"
        lastError = line
        if state != "open" { state = "failed" }
        logger.error("database \(what) failed: \(error)")
        let replica = self.replica
        Task { await report(.failed(replica, message: "\(what): \(line)")) }
        Task { try? await self.closeAdmin() }
    }
}

/// Ordered actions waiting for the executor. The core repeats a request until it is
/// acknowledged, so the same action can arrive many times in a row: consecutive duplicates
/// collapse into one.
final class ActionQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [DatabaseAction] = []
    private let stream = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    var wakeups: AsyncStream<Void> { stream.stream }

    func push(_ action: DatabaseAction) {
        lock.withLock { if items.last != action { items.append(action) } }
        stream.continuation.yield()
    }

    func pop() -> DatabaseAction? { lock.withLock { items.isEmpty ? nil : items.removeFirst() } }
    var count: Int { lock.withLock { items.count } }
    func finish() { stream.continuation.finish() }
}

/// Whether something accepts TCP connections at host:port within `timeoutMs`: checked before
/// any step that would replace a copy, so an unreachable source never costs us our data.
func acceptsConnections(host: String, port: Int, timeoutMs: Int32 = 1000) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
    guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return false }
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    if rc == 0 { return true }
    guard errno == EINPROGRESS else { return false }
    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    guard poll(&pfd, 1, timeoutMs) == 1 else { return false }
    var err: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
    return err == 0
}
