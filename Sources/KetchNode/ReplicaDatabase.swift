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
    /// Off the cooperative pool: see `QueueExecutor`.
    private nonisolated let executor = QueueExecutor(label: "ketch.replica")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let replica: ReplicaID
    private(set) var spec: ReplicaSpec
    private let me: ServerID
    private let listenAddress: String
    let instance: PostgresInstance
    private let replication: ReplicationCredentials
    /// How many replaced copies a clone leaves set aside (`--keep-aside`).
    private let keepAside: Int
    /// `--postgres-stall-ms`; nil never gives a hung primary up.
    private let postgresStall: Span?
    /// When Postgres last answered the status poll (or the copy opened, if later).
    private var lastAnswered = MonotonicClock.now()
    /// Reported once per stall; the next answered poll clears it.
    private var stallReported = false
    private var stallTask: Task<Void, Never>?
    private var lastStallCheck: Instant?
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
    private var isOpen = false
    private var stopped = false
    /// Set by the node just before this primary hands over in a planned switchover: the fence
    /// that follows also stops Postgres, so its shutdown checkpoint reaches the target while the
    /// target still streams from here, and this copy can then follow it without pg_rewind.
    private var handOverTarget: ServerID?
    /// The synchronous standbys the core named; applied at Step 9. Until then commits stay held,
    /// so not even a session that overrides `default_transaction_read_only` is acknowledged
    /// before the epoch opens.
    private var namedStandbys: [ServerID] = []
    private var replies = StandbyReplies()
    /// `fencesAsked` when the copy last opened: a fence asked since is on its way.
    private var openedAfterFences: UInt64?
    private var reportedCaughtUp = false
    /// The upstream this copy was last rewound from, until it streams from it: a second failure
    /// to follow the same upstream after a rewind goes to a new clone instead of another rewind.
    private var rewoundFrom: ServerID?
    /// An ordered action (clone, follow, promote, open...) is in progress.
    private var runningOrdered = false
    /// Set while the poll starts a postmaster that died; ordered work waits for it.
    private var pollRestarting = false
    /// Held for the whole of every open, close and lease extension. The urgent stream (fence,
    /// extend) and the ordered one (open) run on this one actor, and an actor lets another call
    /// in at each `await`: a fence's close resumed after the next epoch's open and wrote the guard
    /// `closed` while Postgres served (reliability finding 3). With this lock the guard always
    /// tells the truth: Postgres is closed to clients, or the guard holds the current deadline.
    private let serviceLock = AsyncMutex()

    /// Slack between the core's lease end and the watchdog's kill, for the kill itself.
    static let watchdogMargin = Span.milliseconds(50)
    static let pollPeriodNanoseconds: UInt64 = 500_000_000
    /// A promoted primary whose epoch is not open yet waits for its standbys to catch up
    /// (Step 5), which the core learns from this poll: look often then, so the poll does not
    /// add half a second to every failover. Serving primaries and standbys are polled slowly.
    static let transitionPollPeriodNanoseconds: UInt64 = 50_000_000
    private var pollPeriodNanoseconds: UInt64 { state == "primary" ? Self.transitionPollPeriodNanoseconds : Self.pollPeriodNanoseconds }

    init(replica: ReplicaID, spec: ReplicaSpec, me: ServerID, listenAddress: String, ketchDataDirectory: String,
         tools: PostgresTools, replication: ReplicationCredentials, keepAside: Int = NodeConfig.defaultKeepAside,
         postgresStall: Span? = .milliseconds(Int64(NodeConfig.defaultPostgresStallMs)), logger: Logger,
         address: @escaping @Sendable (ServerID) async -> String?, report: @escaping @Sendable (DatabaseReport) async -> Void) throws {
        self.replica = replica
        self.spec = spec
        self.me = me
        self.listenAddress = listenAddress
        self.instance = try PostgresInstance(tools: tools, ketchDataDirectory: ketchDataDirectory, replica: replica)
        self.replication = replication
        self.keepAside = keepAside
        self.postgresStall = postgresStall
        self.address = address
        self.report = report
        self.leaseGuard = LeaseGuard(ketchDataDirectory: ketchDataDirectory, replica: replica, postgresDataDirectory: instance.dataDirectory)
        var logger = logger
        logger[metadataKey: "replica"] = .string(spec.name)
        logger[metadataKey: "replica.id"] = .string(replica.short)
        self.logger = logger
        self.settings = PostgresSettings(listenAddresses: [listenAddress], port: spec.dbConfig.port, applicationName: me.rawValue,
                                         synchronousStandbys: .holdWrites, clientNetworks: NodeHooks.clientNetworks, extra: Self.closedExtra,
                                         clientSessions: false)
        self.urgent = AsyncStream.makeStream(of: DatabaseAction.self)
    }

    /// Hands an action over without waiting; order is kept per stream. `epochOpen`: the core's
    /// record says the epoch is already open (a restarted primary re-asserting it), so a
    /// `.promote` of a parked copy can wait for the lease (see `promote`).
    nonisolated func performSoon(_ action: DatabaseAction, epochOpen: Bool = false) {
        switch action {
        case .fence:
            fencesAsked.increment()
            leaseExtendedTo.clear()
            urgent.continuation.yield(action)
        case .extendLease(let until):
            leaseExtendedTo.raise(to: until)
            urgent.continuation.yield(action)
        case .promote where epochOpen: ordered.push(.promoteReasserting)
        case .openToClients(let until):
            // Remember how many fences came before this open: one asked after it voids it.
            ordered.push(.open(until: until, afterFences: fencesAsked.value))
        default:
            ordered.push(.core(action))
        }
    }

    /// The node calls this when the core leads a new (not yet open) epoch with this server as
    /// primary: a parked copy must be on the service port for its standbys to stream from it.
    nonisolated func leadingNewEpoch() {
        if isParked.isSet { ordered.push(.unparkToLead) }
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
            if wasStandby {
                if instance.postmaster()?.isAlive != true { try await startStandby() }
            } else {
                // It may have been superseded while this node was away: park it until the core
                // knows (it must not be promoted or opened before that).
                try await park(reason: "node restart")
            }
        } catch { fail(error, doing: "resume") }
    }

    /// Whether this copy is parked: an ex-primary whose role is not settled, kept in standby
    /// mode (it writes no WAL, so it can still follow a new primary without pg_rewind when it
    /// had sent everything) with no upstream, on `closedPort` (refused on the service port).
    private var parked: Bool { settings.port == spec.dbConfig.closedPort }
    /// `parked`, readable by the node without waiting on this actor.
    nonisolated let isParked = LockedFlag()
    /// Fences the core has asked for so far, counted when they are handed over (in the core's
    /// order). An open runs on the ordered stream and can take a while (unpark, promote); a fence
    /// asked meanwhile arrives on the urgent stream while the copy is not open yet, so it has
    /// nothing to close — and the open must then not let clients in (reliability finding 12).
    private nonisolated let fencesAsked = LockedCounter()
    /// The latest lease deadline the core extended to since the last fence. An open that waited
    /// seconds behind readying the copy serves until this, not its own older deadline: the
    /// extensions themselves wait behind the open, and without them a re-asserted epoch whose
    /// first deadline passed while readying stayed closed for minutes while its lease was renewed
    /// (clock run, seed 5007).
    private nonisolated let leaseExtendedTo = LockedDeadline()
    /// The fence count of an open abandoned because its lease had ended, until a fence or an
    /// extension of that lease (which then opens the copy).
    private var expiredOpen: UInt64?
    var hasExpiredOpen: Bool { expiredOpen != nil }
    /// An open is between taking the service lock and letting clients in: a fence then must
    /// close after it rather than report "nothing to fence".
    private var opening = false
    /// An open in progress has armed the guard (`leaseGuard` says `open`): an extension may move
    /// its deadline at once, without waiting for the open to finish (see `runUrgent`).
    private var guardArmedByOpen = false

    /// Parks an ex-primary (see `parked`). Killed at once rather than shut down: a shutdown
    /// checkpoint is WAL a new primary would not have. Off the failover path: the new primary
    /// never waits for this.
    private func park(reason: String) async throws {
        guard hasData else { return }
        let wasRunning = instance.postmaster()?.isAlive == true
        if wasRunning {
            try await closeAdmin()
            try await instance.stop(mode: .immediate)
        }
        isOpen = false
        following = nil
        settings = closedSettings(upstream: nil, port: spec.dbConfig.closedPort)
        // Started in standby mode: readable for inspection, nothing can commit.
        settings.clientSessions = true
        try instance.writeConfiguration(settings, replication: replication)
        try instance.setStandbySignal(true)
        try leaseGuard.closed()
        state = "parked"
        isParked.set(true)
        try await startStandby()
        logger.notice("parked on closedPort \(spec.dbConfig.closedPort) (\(reason)): the service port \(spec.dbConfig.port) refuses connections until this copy is primary again or follows the new one")
    }

    /// Back on the service port, still in standby mode: the caller promotes it, so a copy
    /// always leaves standby mode through a promotion (a new timeline), never by losing its
    /// standby.signal — a copy that replayed another server's WAL must not continue that
    /// server's timeline as if it were its own.
    private func unpark() async throws {
        try await closeAdmin()
        try await instance.stop(mode: .immediate)
        settings = closedSettings(upstream: nil)
        try instance.writeConfiguration(settings, replication: replication)
        try instance.setStandbySignal(true)
        isParked.set(false)
        state = "standby"
        _ = try await instance.start()
        logger.notice("back on port \(spec.dbConfig.port) from closedPort")
    }

    /// The port Postgres listens on now, from its postmaster.pid (nil when it is not running).
    private var listeningPort: Int? { instance.postmaster().flatMap { $0.isAlive ? $0.port : nil } }

    // MARK: Actions

    private func startWorkers(resuming: Bool) {
        guard workers.isEmpty else { return }
        let ordered = self.ordered, urgent = self.urgent.stream
        workers.append(Task { [weak self] in
            if resuming { await self?.resume() }
            for await _ in ordered.wakeups {
                while let work = ordered.pop() {
                    guard let self else { return }
                    await self.runOrdered(work)
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
            // A primary that lost its lease moves to closedPort, off the failover path.
            if state == "fenced" { ordered.push(.parkFenced) }
        case .extendLease(let until):
            // An open abandoned because its deadline had passed is carried out now that the core
            // extended the same lease (no fence since): otherwise the core would renew a lease for
            // a copy that stays closed (partition seed 5003 rerun: 6 minutes without a primary).
            if !isOpen, let fences = expiredOpen, fencesAsked.value == fences, MonotonicClock.now() < until - Self.watchdogMargin {
                expiredOpen = nil
                logger.notice("the lease of an open that came too late was extended: opening now")
                ordered.push(.open(until: until, afterFences: fences))
                return
            }
            // The open that armed the guard still holds the service lock while it applies the
            // settings and lets clients in (0.75 s on a loaded node): waiting for it let the
            // watchdog kill Postgres at the open's first deadline although the core had renewed
            // the lease meanwhile, and the restart cost 3 s (issue 22). Moving a later deadline
            // into an armed guard is safe at any point of the open; a fence still waits.
            // Before it arms the guard, the open reads the extended deadline itself
            // (`leaseEnd`): waiting here would hold every later extension behind this one until
            // the open ends, and the guard the open arms meanwhile would keep its first deadline.
            if opening {
                if guardArmedByOpen, !leaseGuard.fencedOrExpired() {
                    do { try leaseGuard.open(until: until - Self.watchdogMargin, extending: true) } catch { fail(error, doing: "extend lease") }
                }
                return
            }
            await serviceLock.acquire()
            defer { serviceLock.release() }
            guard isOpen else { return }
            if leaseGuard.fencedOrExpired() {
                // ketch-fence killed Postgres at the old deadline (or is killing it): re-arming the
                // guard would let the poll start it again read-write (finding 9). The copy is
                // closed, and opened again through a whole open — readied closed, guard armed
                // first — under the lease the core has just extended; without that the core went
                // on renewing a lease for a copy that stayed closed (crash seed 5009).
                isOpen = false
                state = "fenced"
                if MonotonicClock.now() < until - Self.watchdogMargin {
                    logger.warning("lease extended after ketch-fence fenced this copy at the old deadline; opening it again under the extended lease")
                    ordered.push(.open(until: until, afterFences: fencesAsked.value))
                } else {
                    deferUntilExtended(fencesAsked.value, "ketch-fence fenced this copy at the old deadline and the extension came too late")
                    ordered.push(.parkFenced)
                }
                return
            }
            do { try leaseGuard.open(until: until - Self.watchdogMargin, extending: true) } catch { fail(error, doing: "extend lease") }
        default:
            await runLogged(action)
        }
    }

    private func runOrdered(_ work: Work) async {
        // Never while the poll restarts a dead postmaster: two starts at once make one fail on
        // the other's lock file (the poll, for its part, does not start while this runs).
        while pollRestarting { try? await Task.sleep(nanoseconds: 20_000_000) }
        runningOrdered = true
        defer { runningOrdered = false }
        switch work {
        case .core(let action): await runLogged(action)
        case .promoteReasserting:
            guard !stopped else { return }
            if parked {
                logger.info("database: promote deferred: a parked copy re-asserting an open epoch waits for its lease")
                return
            }
            await runLogged(.promote)
        case .open(let until, let fences):
            guard !stopped else { return }
            logger.info("database: \(DatabaseAction.openToClients(until: until))")
            do { try await open(until: until, afterFences: fences) } catch { fail(error, doing: "\(DatabaseAction.openToClients(until: until))") }
        case .unparkToLead:
            guard !stopped, parked, state == "parked" else { return }
            isParked.set(false)
            do { try await promote() } catch { fail(error, doing: "unpark") }
        case .parkFenced:
            guard !stopped, state == "fenced", !isOpen, following == nil else { return }
            do { try await park(reason: "lease lost") } catch { fail(error, doing: "park") }
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
                // A clone or follow that keeps failing gives way to what the core asked next; any
                // other failure is reported even when more work waits behind it.
                if retries > 0, ordered.hasCoreWork {
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
            namedStandbys = ids
            // Open: the data quorum changed under a serving primary; apply at once. Closed: kept
            // for Step 9 (commits stay held; the standbys' catch-up is read from their flush LSNs).
            // Not while a fence asked since the open is on its way (it runs on the urgent
            // worker): commits waiting for the old data quorum would be released by a member
            // of the new epoch before the old one is revoked, and a member of the old epoch
            // without them could still lead a successor of it.
            await serviceLock.acquire()
            defer { serviceLock.release() }
            guard isOpen, openedAfterFences == fencesAsked.value else { return }
            settings.synchronousStandbys = Self.synchronous(ids)
            try await apply()
            await nudge()
        case .openToClients(let until): try await open(until: until, afterFences: fencesAsked.value)
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
        var aside: String?
        if hasData {
            aside = try instance.setAside()
            logger.notice("old copy set aside before clone", metadata: ["path": .string(aside!)])
        } else if FileManager.default.fileExists(atPath: instance.dataDirectory) {
            // What an interrupted pg_basebackup left: not data anyone wrote, safe to clear.
            try FileManager.default.removeItem(atPath: instance.dataDirectory)
        }
        settings = closedSettings(upstream: UpstreamServer(host: host, port: spec.dbConfig.port))
        isParked.set(false)
        do {
            try await instance.baseBackup(from: UpstreamServer(host: host, port: spec.dbConfig.port), replication: replication, settings: settings)
        } catch {
            // Put the copy back: the core may still count it in-sync, and a member left with no
            // data can never lead (diskfull seed 6045: an in-sync member's clone from a server
            // whose disk was full failed, it was then chosen to lead, and its promote failed for
            // the rest of the run on "not a Postgres data directory").
            if let aside {
                do {
                    try instance.restoreAside(aside)
                    logger.notice("clone failed; the copy set aside is back in place", metadata: ["path": .string(aside)])
                } catch let restore {
                    logger.error("clone failed and the copy set aside could not be put back: \(restore)", metadata: ["path": .string(aside)])
                }
            }
            throw error
        }
        _ = try await instance.start()
        // Only now are older set-aside copies redundant: this copy is a clone of the primary,
        // which holds every acknowledged write. Pruned before, a failed clone's retry would set
        // the partial copy aside and delete the complete one.
        for removed in (try? instance.pruneAside(keeping: keepAside)) ?? [] {
            logger.notice("older set-aside copy removed (--keep-aside \(keepAside))", metadata: ["path": .string(removed)])
        }
        following = source
        state = "standby"
        lastError = nil
        await report(.following(replica, primary: source))
    }

    /// Streams from `primary`. A standby is re-pointed by a reload. A copy that was a primary is
    /// first tried as a standby as it is — killed at once if it still runs, so it writes no
    /// further WAL (a shutdown checkpoint would itself put it past the new timeline's fork
    /// point) — which works whenever the new primary already had all of its WAL (a planned
    /// switchover, or a crash before anything unsent was written). Only when Postgres says it
    /// cannot follow is it rewound with pg_rewind, and re-cloned (old copy set aside) when that
    /// fails.
    private func follow(_ primary: ServerID) async throws {
        guard let host = await address(primary) else { throw NodeError("unknown-server", "no address known for server \(primary.short)") }
        guard hasData else { return try await clone(from: primary) }
        if following == primary, await streams(from: host, within: 0) {
            // The core asks again while the copy is not caught up. A copy streaming from another
            // branch never catches up (the primary counts only WAL it sent) and never replays what
            // it gets: clone it (crash seed 6036, five minutes of re-asked follows).
            if let c = try? await adminConnection(), let past = try? await c.replayedPastUpstream(host: host) {
                return try await cloneInstead(primary, host: host, because: "replayed to \(past.replayed), past the end of WAL \(past.upstreamEnd) it reports: this copy holds WAL of another branch")
            }
            rewoundFrom = nil
            await report(.following(replica, primary: primary))
            return
        }
        try requireReachable(host, primary)
        if isOpen { try await close(reason: "following \(primary.short)") }
        let upstream = UpstreamServer(host: host, port: spec.dbConfig.port)
        // Before the copy's walreceiver may connect: Postgres tells timelines apart by number
        // only, so a copy on another server's timeline of the same number would stream, be
        // counted as a synchronous standby and acknowledge commits it can never replay (clock
        // seed 6011; see `TimelineOrigin`). pg_rewind compares numbers too: only a clone helps.
        // A check that cannot be made throws, and the follow is retried.
        if let diverged = try await instance.divergence(from: upstream, replication: replication) {
            return try await cloneInstead(primary, host: host, because: diverged)
        }
        let running = instance.postmaster()?.isAlive == true
        let onServicePort = listeningPort == spec.dbConfig.port
        var wasPrimary = !FileManager.default.fileExists(atPath: instance.dataDirectory + "/standby.signal")
        if running, let c = try? await adminConnection(), let recovering = try? await c.isInRecovery() { wasPrimary = !recovering }
        settings = closedSettings(upstream: upstream)
        let logStart = instance.logEnd
        var startFailure: Error?
        if running && !wasPrimary && onServicePort {
            try await apply()
        } else {
            if running {
                try await closeAdmin()
                try await instance.stop(mode: .immediate)
            }
            state = "rejoining"
            try instance.writeConfiguration(settings, replication: replication)
            repairTimelineSwitch()
            // Not the default 60 s: a copy that cannot follow never becomes consistent, and
            // `streams` below reads Postgres's reason from the log; one that is merely not
            // consistent yet goes on streaming meanwhile.
            do { _ = try await instance.start(timeout: Self.followStartTimeout) }
            catch let error as PostgresError where error.code == .timedOut {}
            catch { startFailure = error }
        }
        isParked.set(parked)
        let superseded = { [ordered] in ordered.hasRoleChange(otherThan: primary) }
        if startFailure == nil, await streams(from: host, within: Self.followSeconds, logFrom: logStart, unless: superseded) {
            rewoundFrom = nil
            following = primary
            state = "standby"
            lastError = nil
            logger.notice("streaming from \(host)\(wasPrimary ? " without pg_rewind" : "")")
            await report(.following(replica, primary: primary))
            return
        }
        if superseded() {
            throw NodeError("superseded", "not streaming from \(host) yet, and the core has since asked for another role")
        }
        let reason = startFailure.map { "\($0)" } ?? instance.cannotFollowLine(since: logStart) ?? "not streaming after \(Int(Self.followSeconds)) s"
        // pg_rewind copies only what the upstream has: when it lacks WAL this copy needs, or a
        // rewind from it already failed to make this copy stream, clone instead (old copy set aside).
        if let missing = instance.upstreamLacksWALLine(since: logStart) ?? (rewoundFrom == primary ? reason : nil) {
            return try await cloneInstead(primary, host: host, because: missing)
        }
        logger.notice("cannot follow \(host) as it is (\(reason)); rewinding", metadata: ["primary": .string(host)])
        state = "rewinding"
        try await closeAdmin()
        try await instance.stop(mode: .fast)
        do {
            try await instance.rewind(from: upstream, replication: replication, settings: settings)
        } catch {
            if superseded() { throw NodeError("superseded", "pg_rewind from \(host) failed (\(error)), and the core has since asked for another role") }
            logger.warning("pg_rewind failed, re-cloning: \(error)")
            return try await clone(from: primary)
        }
        // Set before the start: a rewound copy that then cannot even start ("could not locate a
        // valid checkpoint record", badnet seed 5010) is cloned on the next follow, not rewound
        // again and again.
        rewoundFrom = primary
        try await startStandby()
        following = primary
        state = "standby"
        lastError = nil
        await report(.following(replica, primary: primary))
    }

    /// A follow that only a new clone can make work: this copy has WAL its primary lacks, or the
    /// primary lacks WAL this copy needs, and pg_rewind cannot fix either. The clone sets the copy
    /// aside (and puts it back if it fails).
    private func cloneInstead(_ primary: ServerID, host: String, because why: String) async throws {
        logger.notice("cannot follow \(host) as it is (\(why)); a rewind cannot fix this, cloning", metadata: ["primary": .string(host)])
        following = nil
        rewoundFrom = nil
        try await clone(from: primary)
    }

    /// Starts a standby, but does not wait for it to become consistent beyond a few seconds: a
    /// copy rewound from a primary that died meanwhile needs WAL that only the next primary
    /// can send, and the core's next follow (a reload of `primary_conninfo`) is what brings it.
    /// Also used for a parked copy, a restart after the postmaster died and a node restart:
    /// `pg_ctl start --wait` waited 60 s for a consistency such copies may not reach on their
    /// own, holding up every action behind it (reliability finding 14).
    private func startStandby() async throws {
        repairTimelineSwitch()
        do { _ = try await instance.start(timeout: .seconds(5)) } catch let error as PostgresError where error.code == .timedOut {
            logger.notice("standby not consistent yet (waiting for WAL from its upstream); going on: \(error.message)")
        }
    }

    /// Before Postgres starts: refills the part of a streamed timeline switch's segment that
    /// Postgres 15 left zero (see `TimelineSegmentRepair`, reliability finding 14b), so a copy that
    /// PANICked at promotion can start and be promoted again.
    private func repairTimelineSwitch() {
        guard instance.postmaster()?.isAlive != true else { return }
        do {
            if let what = try TimelineSegmentRepair.run(walDirectory: instance.dataDirectory + "/pg_wal") {
                logger.warning("repaired a WAL segment before starting Postgres: \(what)")
            }
        } catch {
            logger.warning("\(error)")
        }
    }

    /// How long a re-pointed copy may take to stream before it is rewound; Postgres's own
    /// "cannot follow" line ends the wait at once.
    static let followSeconds = 10.0
    static let followStartTimeout = Duration.seconds(10)

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

    private func streams(from host: String, within seconds: Double, logFrom: UInt64? = nil, unless superseded: () -> Bool = { false }) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if let c = try? await adminConnection(),
               let v = try? await c.value("SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'"), v == host {
                return true
            }
            if let logFrom, instance.cannotFollowLine(since: logFrom) != nil { return false }
            if superseded() { return false }
            if seconds > 0 { try? await Task.sleep(nanoseconds: 50_000_000) }
        } while Date() < deadline
        return false
    }

    private func promote() async throws {
        if parked || (listeningPort.map { $0 != spec.dbConfig.port } ?? false) { try await unpark() }
        settings = closedSettings(upstream: nil)
        settings.synchronousStandbys = .holdWrites
        try instance.writeConfiguration(settings, replication: replication)
        if instance.postmaster()?.isAlive != true {
            repairTimelineSwitch()
            _ = try await instance.start()
        }
        let c = try await adminConnection()
        let recovering = try await c.isInRecovery()
        // Sessions that logged in while this was a standby would outlive the promotion and
        // could commit on the closed primary (issue 15, bug 5): refuse new ones, end these.
        try await c.reloadConfiguration()
        try await endClientSessions(c)
        if recovering {
            // pg_promote() over the open admin connection: no runuser + pg_ctl to spawn.
            try await c.promote()
        }
        following = nil
        state = "primary"
        lastError = nil
        await report(.promoted(replica))
    }

    /// An open whose lease has ended waits for the core to extend that lease (see `expiredOpen`).
    private func deferUntilExtended(_ afterFences: UInt64, _ why: String) {
        logger.notice("open abandoned: \(why); it opens if the core extends that lease")
        expiredOpen = afterFences
    }

    /// The open's own deadline, or a later one the core extended the same lease to since.
    private func leaseEnd(_ until: Instant) -> Instant { max(until, leaseExtendedTo.value ?? until) }

    /// Step 9 on this server: the watchdog learns the deadline first, then clients are let in.
    private func open(until: Instant, afterFences: UInt64) async throws {
        await serviceLock.acquire()
        opening = true
        defer { opening = false; guardArmedByOpen = false; serviceLock.release() }
        guard MonotonicClock.now() < leaseEnd(until) - Self.watchdogMargin else {
            return deferUntilExtended(afterFences, "its lease had already ended")
        }
        var recovering: Bool?
        if let c = try? await adminConnection() { recovering = try? await c.isInRecovery() }
        if following != nil || instance.postmaster()?.isAlive != true || recovering != false || listeningPort != spec.dbConfig.port {
            // A primary that stood down for a switchover that never happened follows its target
            // as a standby; the core opens only with the lease of an epoch this server leads.
            try await promote()
        }
        // No await between this check and the guard: a fence asked later finds `opening` set
        // and closes after this open (see `fenceNow`).
        guard fencesAsked.value == afterFences else {
            logger.notice("open abandoned: the lease was given up while the copy was being readied")
            return
        }
        // Readying can take seconds (un-park, promote): a guard armed with a deadline already
        // past would let clients in until the watchdog notices (finding 16).
        do { try leaseGuard.open(until: leaseEnd(until) - Self.watchdogMargin) } catch let e as NodeError where e.code == LeaseGuard.expiredCode {
            return deferUntilExtended(afterFences, "the lease ran out while the copy was being readied")
        }
        guardArmedByOpen = true
        settings.extra["default_transaction_read_only"] = "off"
        settings.clientSessions = true
        settings.synchronousStandbys = Self.synchronous(namedStandbys)
        try await apply()
        await nudge()
        expiredOpen = nil
        lastAnswered = MonotonicClock.now()
        stallReported = false
        isOpen = true
        openedAfterFences = afterFences
        state = "open"
        logger.notice("open to clients")
    }

    /// Reports `.fenced` once client service is stopped and the watchdog disarmed (or was never
    /// running): a planned switchover releases the lease only after that report. In a hand-over
    /// the report waits until this copy's clean shutdown is done too, so the target is promoted
    /// only after it has received our shutdown checkpoint (otherwise this copy needs pg_rewind).
    private func fenceNow() async {
        guard isOpen || opening || state == "primary" || state == "open" else { await report(.fenced(replica)); return }
        do {
            try await close(reason: "lease")
        } catch {
            fail(error, doing: "fence")
            // A fence that could not close Postgres (its configuration could not be written,
            // the reload failed) ends client service as ketch-fence would at the deadline, only
            // now, and is reported done. The core counts every fence until its report comes:
            // one never reported kept that count above zero for good, and each later switchover
            // or give-way of this replica on this server waited out a whole lease for it.
            //
            // Once Postgres is dead the guard is closed too, so ketch-fence does not kill the
            // standby the next follow starts at the old deadline. A hand-over's clean shutdown is
            // out of reach: the copy is rewound when it follows.
            handOverTarget = nil
            if await killAndFail() {
                try? leaseGuard.closed()
                logger.warning("the fence could not close Postgres; killed it instead")
                await report(.fenced(replica))
            }
            return
        }
        state = "fenced"
        if let target = handOverTarget {
            handOverTarget = nil
            await stopForHandOver(to: target)
        }
        await report(.fenced(replica))
    }

    /// Called by the node just before it asks the core for a planned switchover to `target`
    /// (nil: it was refused, forget it). A checkpoint now, while still serving, keeps the
    /// shutdown checkpoint of the hand-over short.
    func prepareHandOver(to target: ServerID?) async {
        handOverTarget = target
        guard target != nil, isOpen, let c = try? await adminConnection() else { return }
        do { try await c.query("CHECKPOINT") } catch { logger.notice("checkpoint before the switchover failed: \(error)") }
    }

    /// The closed primary stops with a clean (fast) shutdown: Postgres sends the shutdown
    /// checkpoint to every connected standby before it exits, so the target, which is promoted
    /// only after this primary's lease is gone, has every WAL record this copy has. This copy is
    /// then started as a standby of the target (cascading until the target is promoted, then on
    /// its new timeline) — no pg_rewind, and it is already streaming when the new epoch needs it.
    private func stopForHandOver(to target: ServerID) async {
        do {
            try await closeAdmin()
            try await instance.stop(mode: .fast)
            logger.notice("stopped for the switchover to \(target.short); following it next")
        } catch {
            logger.warning("stopping for the switchover failed; this copy will be rewound when it follows: \(error)")
        }
        ordered.push(.core(.follow(primary: target)))
    }

    /// Closed to clients: read-only for new transactions, commits held, sessions ended.
    private func close(reason: String) async throws {
        await serviceLock.acquire()
        defer { serviceLock.release() }
        isOpen = false
        settings.extra["default_transaction_read_only"] = "on"
        let standby = FileManager.default.fileExists(atPath: instance.dataDirectory + "/standby.signal")
        if !standby { settings.synchronousStandbys = .holdWrites }
        settings.clientSessions = standby
        if instance.postmaster()?.isAlive == true {
            try await apply()
            if let c = try? await adminConnection() {
                // A standby's sessions cannot commit: they are ended without waiting for them.
                if standby { _ = try? await c.terminateClientSessions() } else { try await endClientSessions(c) }
            }
        } else {
            try instance.writeConfiguration(settings, replication: replication)
        }
        try leaseGuard.closed()
        logger.notice("closed to clients (\(reason))")
    }

    /// How long a fence waits for the client sessions it ended to be gone.
    static let sessionEndLimit: Duration = .seconds(2)

    /// Ends every client session and waits until they are gone: until then one of them may
    /// still commit. The configuration refusing new ones must already be loaded. Throws when
    /// some are still there after `sessionEndLimit` (the fence then kills Postgres).
    private func endClientSessions(_ c: PGConnection) async throws {
        _ = try await c.terminateClientSessions()
        let deadline = ContinuousClock.now + Self.sessionEndLimit
        while true {
            let left = try await c.clientSessionCount(except: PostgresInstance.superuser)
            if left == 0 { return }
            guard ContinuousClock.now < deadline else {
                throw NodeError("sessions-left", "\(left) client sessions were still connected \(Self.sessionEndLimit) after they were ended; killing Postgres so none of them commits on a closed copy")
            }
            _ = try? await c.terminateClientSessions()
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func stop() async throws {
        stopped = true
        isOpen = false
        try? await closeAdmin()
        try await instance.stop(mode: .fast)
        try? leaseGuard.closed()
        leaseGuard.stopWatchdog()
        pollTask?.cancel()
        stallTask?.cancel()
        state = "stopped"
    }

    /// A graceful node stop: close to clients, stop Postgres (data kept), stop the watchdog.
    func shutdown() async {
        pollTask?.cancel()
        stallTask?.cancel()
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

    /// Rewrites the configuration and reloads it with `pg_reload_conf()` over the admin
    /// connection (no runuser + pg_ctl to spawn on the failover path); `pg_ctl reload` when
    /// there is no connection.
    private func apply() async throws {
        try instance.writeConfiguration(settings, replication: replication)
        guard instance.postmaster()?.isAlive == true else { return }
        if let c = try? await adminConnection(), (try? await c.reloadConfiguration()) != nil { return }
        try? await closeAdmin()
        try await instance.reload()
    }

    private static func synchronous(_ ids: [ServerID]) -> SynchronousStandbys {
        ids.isEmpty ? .none : .all(ids.map(\.rawValue))
    }

    /// Closed settings. A standby (it has an upstream) may take read sessions: in recovery
    /// nothing commits. Anything else refuses them (see `PostgresSettings.clientSessions`).
    private func closedSettings(upstream: UpstreamServer?, port: Int? = nil) -> PostgresSettings {
        PostgresSettings(listenAddresses: [listenAddress], port: port ?? spec.dbConfig.port, applicationName: me.rawValue,
                         synchronousStandbys: upstream == nil ? .holdWrites : .none, upstream: upstream,
                         clientNetworks: NodeHooks.clientNetworks, extra: Self.closedExtra, clientSessions: upstream != nil)
    }

    // MARK: Status

    /// Starts the action workers (after bringing an existing copy back up when `resuming`)
    /// and the status poll.
    func start(resuming: Bool) {
        startWorkers(resuming: resuming)
        guard pollTask == nil else { return }
        pollTask = Task { [weak self] in
            while !Task.isCancelled {
                guard let period = await self?.pollOnce() else { return }
                try? await Task.sleep(nanoseconds: period)
            }
        }
        // Its own task: the poll it watches is the thing that hangs.
        if postgresStall != nil {
            stallTask = Task { [weak self] in
                while !Task.isCancelled {
                    guard let self else { return }
                    await self.checkStall()
                    try? await Task.sleep(nanoseconds: Self.stallCheckPeriodNanoseconds)
                }
            }
        }
    }

    static let stallCheckPeriodNanoseconds: UInt64 = 250_000_000

    /// A serving primary whose live postmaster has not answered the status poll for
    /// `postgresStall` is killed (SIGKILL, the postmaster and its children) and reported failed,
    /// and the core gives the primary up (`giveWay`: fence, release or let the lease lapse, ask
    /// an in-sync member to reconfigure). Without this a hung Postgres keeps a lease the healthy
    /// node goes on renewing. It is killed first because the fence that follows cannot close
    /// a Postgres that does not answer: a reload is only a queued SIGHUP to a stopped
    /// postmaster, its sessions would not be ended, and once the fence reported "closed" (and
    /// the lease was released) the woken sessions could read, and a waiting commit be released
    /// by its standby's reply, next to a new primary.
    ///
    /// Only silence this check saw counts: after a gap between checks (this node was paused or
    /// starved) the poll had no chance to run, so the wait starts again.
    private func checkStall() async {
        let now = MonotonicClock.now()
        defer { lastStallCheck = now }
        if let last = lastStallCheck, now - last > .seconds(1) { lastAnswered = max(lastAnswered, now) }
        guard let limit = postgresStall, !stallReported, !stopped, isOpen, state == "open", !pollRestarting,
              instance.postmaster()?.isAlive == true else { return }
        let silent = now - lastAnswered
        guard silent > limit else { return }
        stallReported = true
        let message = "Postgres has not answered the status poll for \(silent.milliseconds) ms while serving (--postgres-stall-ms \(limit.milliseconds)); killed it, giving the primary up"
        lastError = message
        logger.error("\(message)")
        // Not started again by the poll: a standby start that waits for consistency held up
        // the follow the new epoch needs from this copy by seconds.
        await killAndFail()
        await report(.failed(replica, message: message))
    }

    /// Ends client service by SIGKILL when Postgres cannot be closed the ordinary way (it hangs,
    /// or its configuration cannot be written). The copy is "failed" before the kill, which
    /// awaits, so no poll meanwhile finds it "open" without a postmaster and starts it again
    /// (perhaps from its open configuration); the core's next action (follow, clone, promote)
    /// writes the configuration it needs and starts it. Returns whether Postgres is gone.
    @discardableResult
    private func killAndFail() async -> Bool {
        state = "failed"
        await instance.killHung()
        return instance.postmaster()?.isAlive != true
    }

    /// One status poll; returns how long to wait before the next.
    private func pollOnce() async -> UInt64 {
        await poll()
        return pollPeriodNanoseconds
    }

    private func poll() async {
        // A postmaster that died under us (kill -9, OOM) is started again; nothing else would, and a
        // primary holding its lease with no Postgres is a database that is down for good.
        // Not while an ordered action runs: it may be stopping and starting Postgres itself, and
        // two starts at once cost the loser a 60 s wait on the winner's postmaster.
        if !stopped, !runningOrdered, hasData, instance.postmaster()?.isAlive != true, ["open", "primary", "standby", "fenced"].contains(state),
           guardAllowsRestart() {
            logger.warning("postmaster is gone; starting it again")
            pollRestarting = true
            defer { pollRestarting = false }
            try? await closeAdmin()
            if isOpen || state == "open" {
                // Started as it was, an open copy would serve read-write from its open
                // configuration before any guard is armed: crash seed 8013 read from a restarted
                // primary after ketch-fence had fenced its old deadline (nothing running then)
                // and before the node opened it again. It comes back closed, and opens again
                // through a whole open (guard first) when the core extends the lease.
                do { try await close(reason: "postmaster died while open") } catch {
                    // Not started from a configuration that may still be the open one: the
                    // next poll tries again.
                    fail(error, doing: "close before the restart")
                    return
                }
                // `state` stays "open" (with `isOpen` false): a start that fails here is then
                // retried by the next poll, as before.
                deferUntilExtended(fencesAsked.value, "the postmaster died while open")
            }
            do { try await startStandby() } catch { fail(error, doing: "restart after the postmaster exited") }
            return
        }
        guard !stopped, hasData, instance.postmaster()?.isAlive == true, !["cloning", "rewinding", "initialising"].contains(state) else { return }
        do {
            let c = try await adminConnection()
            let s = try await c.status()
            lastStatus = s
            lastAnswered = MonotonicClock.now()
            stallReported = false
            if s.role == .primary {
                let silent = replies.silent(in: s.standbys, now: MonotonicClock.now())
                await report(.replication(replica, caughtUp: Self.caughtUp(s, silent: silent)))
            } else if reportedCaughtUp {
                // A copy that was primary before keeps its last report in the core; once it is a
                // standby that list is stale and must not count for its next term as primary.
                await report(.replication(replica, caughtUp: []))
            }
            reportedCaughtUp = s.role == .primary
            var ps = s.postgresStatus(port: settings.port)
            ps.state = state == "open" && isOpen ? "primary-open" : state == "parked" ? "parked" : ps.state == "primary" ? "primary-closed" : ps.state
            await report(.status(replica, ps))
        } catch {
            try? await closeAdmin()
        }
    }

    /// The standbys a primary may count as caught up (Step 5): streaming, and synchronous or
    /// flushed up to the primary's current LSN — but only on a flush position this primary sent.
    ///
    /// A walreceiver that has just connected reports its own replay position as written and
    /// flushed (Postgres 15 starts its report there), whatever history that position belongs
    /// to. A copy that replayed another server's branch past this primary's position — the same
    /// timeline number with a different history (two copies promoted to the same next timeline),
    /// or an older timeline past where ours forked off — thus claims WAL it never received from
    /// us, and Postgres cannot see it (it compares timeline numbers only). Counting that claim
    /// made such a copy in-sync: in clock seed 6011 a standby of another server's timeline 12
    /// was counted at once, commits were acknowledged on it, it could never replay them, and
    /// its promotion PANICked for the rest of the run. A flush position we sent is one we can
    /// trust; beyond `sent_lsn` it is the standby's own.
    static func caughtUp(_ s: ServerStatus, silent: Set<String> = []) -> [ServerID] {
        let current = s.currentLSN ?? LSN(UInt64.max)
        return s.standbys.filter { standby in
            guard standby.state == "streaming", let flushed = standby.flushLSN, let sent = standby.sentLSN, flushed <= sent else { return false }
            // Silent (`StandbyReplies`): not caught up, whatever `sync_state` says, so the core
            // can move its synchronous place (`CoreConfig.dataQuorumStall`).
            if silent.contains(standby.applicationName) { return false }
            return standby.syncState == "sync" || standby.syncState == "quorum" || flushed >= current
        }.map { ServerID($0.applicationName) }.sorted()
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
        var ps = lastStatus?.postgresStatus(port: settings.port) ?? PostgresStatus(state: state, port: settings.port)
        ps.state = state
        ps.error = lastError
        return ps
    }

    private func adminConnection() async throws -> PGConnection {
        if let a = admin { return a }
        let port = listeningPort ?? settings.port
        let c = try await PGConnection.connect(instance.adminConnectionOptions(port: port, connectTimeoutSeconds: 2))
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

/// A counter behind a lock.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count: UInt64 = 0
    func increment() { lock.withLock { count += 1 } }
    var value: UInt64 { lock.withLock { count } }
}

/// The latest of the deadlines raised to since the last clear, behind a lock.
final class LockedDeadline: @unchecked Sendable {
    private let lock = NSLock()
    private var latest: Instant?
    func raise(to d: Instant) { lock.withLock { latest = max(latest ?? d, d) } }
    func clear() { lock.withLock { latest = nil } }
    var value: Instant? { lock.withLock { latest } }
}

/// A Bool behind a lock.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set(_ v: Bool) { lock.withLock { value = v } }
    var isSet: Bool { lock.withLock { value } }
}

/// One piece of ordered work: a core action, or the node's own steps around it.
enum Work: Equatable {
    case core(DatabaseAction)
    /// `.promote` while the core's record says the epoch is already open.
    case promoteReasserting
    /// After a lease fence: move the closed primary to closedPort.
    case parkFenced
    /// The core leads a new epoch with this parked copy as primary: back to the service port.
    case unparkToLead
    /// `.openToClients`, with the number of fences asked before it (`fencesAsked`).
    case open(until: Instant, afterFences: UInt64)
}

/// Ordered actions waiting for the executor. The core repeats a request until it is
/// acknowledged, so the same action can arrive many times in a row: consecutive duplicates
/// collapse into one.
final class ActionQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Work] = []
    private let stream = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    var wakeups: AsyncStream<Void> { stream.stream }

    func push(_ work: Work) {
        lock.withLock { if items.last != work { items.append(work) } }
        stream.continuation.yield()
    }

    func pop() -> Work? { lock.withLock { items.isEmpty ? nil : items.removeFirst() } }
    var count: Int { lock.withLock { items.count } }
    /// Whether a core action waits (the node's own steps never make a failing action give up).
    var hasCoreWork: Bool {
        lock.withLock { items.contains { switch $0 { case .core, .open: true; default: false } } }
    }
    /// Whether the core has since asked this copy to take another role: follow or clone from a
    /// server other than `primary`, promote, initialise or stop. A follow that cannot stream
    /// gives way to such work rather than spend tens of seconds rewinding or cloning toward a
    /// primary that is no longer the one (partition, seed 5003: 48 s).
    func hasRoleChange(otherThan primary: ServerID) -> Bool {
        lock.withLock {
            items.contains {
                switch $0 {
                case .core(.follow(let p)), .core(.clone(let p)): p != primary
                case .core(.promote), .core(.initialise), .core(.stop), .unparkToLead: true
                default: false
                }
            }
        }
    }
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
