import Foundation
import KetchShared

/// One Postgres copy of one replica on this server, and everything done to it with Postgres's
/// programs: initdb, configuration, start/stop/reload/promote, pg_basebackup, pg_rewind.
///
/// Layout (as in the seed): the data directory is `<data-dir>/<replica-id>/`; sockets and lock
/// files live directly in `<data-dir>`, next to the server log `<replica-id>.log` and the
/// replication passfile `<replica-id>.pgpass`. A replaced copy is renamed aside by `setAside`;
/// only `pruneAside` deletes copies, and only the older ones beyond a count the operator sets.
public struct PostgresInstance: Sendable {
    /// The bootstrap superuser; the node reaches it over the unix socket by peer authentication
    /// (pg_ident maps this process's OS user to it), so it has no password.
    public static let superuser = "postgres"

    public let tools: PostgresTools
    public let ketchDataDirectory: String
    public let replica: ReplicaID

    public var dataDirectory: String { path(replica.rawValue) }
    public var socketDirectory: String { ketchDataDirectory }
    public var logFile: String { path(replica.rawValue + ".log") }
    public var passFile: String { path(replica.rawValue + ".pgpass") }

    public init(tools: PostgresTools = PostgresTools(), ketchDataDirectory: String, replica: ReplicaID) throws {
        try PostgresSettings.checkToken(replica.rawValue, what: "replica id")
        guard !replica.rawValue.contains("/"), !replica.rawValue.hasPrefix(".") else {
            throw PostgresError(code: .invalidArgument, message: "replica id '\(replica)' cannot be used as a directory name")
        }
        let directory = (ketchDataDirectory as NSString).standardizingPath
        guard directory.hasPrefix("/"), !directory.contains(where: { "',\n\"\\".contains($0) }) else {
            throw PostgresError(code: .invalidArgument, message: "data directory '\(ketchDataDirectory)' must be an absolute path without quotes, commas or backslashes (Postgres config values hold it)")
        }
        // Postgres refuses socket paths longer than 107 bytes: <dir>/.s.PGSQL.<port>.lock
        guard directory.utf8.count <= 80 else {
            throw PostgresError(code: .invalidArgument, message: "data directory '\(directory)' is longer than 80 bytes; unix socket paths in it would exceed the kernel's 107-byte limit")
        }
        self.tools = tools
        self.ketchDataDirectory = directory
        self.replica = replica
    }

    /// Whether `dataDirectory` holds a Postgres cluster (initialized or cloned).
    public var isInitialized: Bool { PostgresFiles.exists(inData("PG_VERSION")) }

    private func path(_ name: String) -> String { (ketchDataDirectory as NSString).appendingPathComponent(name) }
    private var runner: ProgramRunner { ProgramRunner(tools: tools) }

    // MARK: Creating a copy

    /// Runs initdb into an empty `dataDirectory` (created, owned by the OS user, mode 700), with
    /// data checksums so pg_rewind works, peer auth on the socket and SCRAM over TCP.
    public func initialize(timeout: Duration = .seconds(120)) async throws {
        try tools.check()
        let account = try prepareKetchDirectory()
        if PostgresFiles.exists(dataDirectory) && !PostgresFiles.isEmptyDirectory(dataDirectory) {
            throw PostgresError(code: .initdbFailed, message: "\(dataDirectory) already holds data; set it aside first (data is never overwritten)")
        }
        try PostgresFiles.makeDirectory(dataDirectory, owner: account, mode: 0o700)
        let output = try await runner.run("initdb", [
            "--pgdata=\(dataDirectory)", "--username=\(Self.superuser)", "--encoding=UTF8",
            "--locale=C.UTF-8", "--data-checksums", "--auth-local=peer", "--auth-host=scram-sha-256",
        ], workingDirectory: ketchDataDirectory, timeout: timeout)
        guard output.status == 0 else {
            throw PostgresError(code: .initdbFailed, message: "initdb of \(dataDirectory) failed: \(output.errorLine ?? "exit status \(output.status)")", postgresLine: output.errorLine, detail: output.tail)
        }
    }

    /// Copies a running primary with pg_basebackup (WAL streamed, fast checkpoint) into an empty
    /// `dataDirectory`, then writes `settings` — which should name `source` as upstream to make
    /// the copy a standby. The password reaches pg_basebackup through the passfile only.
    public func baseBackup(from source: UpstreamServer, replication: ReplicationCredentials, settings: PostgresSettings,
                           timeout: Duration = .seconds(600)) async throws {
        try tools.check()
        try settings.validate()
        try PostgresSettings.checkToken(source.host, what: "source host")
        let account = try prepareKetchDirectory()
        if PostgresFiles.exists(dataDirectory) && !PostgresFiles.isEmptyDirectory(dataDirectory) {
            throw PostgresError(code: .baseBackupFailed, message: "\(dataDirectory) already holds data; set it aside first (data is never overwritten)")
        }
        try PostgresFiles.makeDirectory(dataDirectory, owner: account, mode: 0o700)
        try writePassFile(replication, owner: account)
        let conninfo = Conninfo.render([
            ("host", source.host), ("port", String(source.port)), ("user", replication.user),
            ("application_name", "\(settings.applicationName)-basebackup"), ("connect_timeout", "5"),
        ])
        let output = try await runner.run("pg_basebackup", [
            "--pgdata=\(dataDirectory)", "--dbname=\(conninfo)", "--wal-method=stream",
            "--checkpoint=fast", "--no-password",
        ], environment: ["PGPASSFILE": passFile], workingDirectory: ketchDataDirectory, timeout: timeout)
        guard output.status == 0 else {
            throw PostgresError(code: .baseBackupFailed, message: "pg_basebackup from \(source.host):\(source.port) into \(dataDirectory) failed: \(output.errorLine ?? "exit status \(output.status)")", postgresLine: output.errorLine, detail: output.tail)
        }
        // The copy carries the source's configuration (its address and port): replace it.
        try writeConfiguration(settings, replication: replication)
    }

    /// Rewinds this stopped copy onto `source`'s timeline with pg_rewind, then writes `settings`
    /// (pg_rewind copies the source's configuration files too). Needs the replication role to be
    /// allowed pg_rewind's functions (`PGConnection.createReplicationRole` grants them).
    public func rewind(from source: UpstreamServer, replication: ReplicationCredentials, settings: PostgresSettings,
                       timeout: Duration = .seconds(600)) async throws {
        try tools.check()
        try settings.validate()
        try PostgresSettings.checkToken(source.host, what: "source host")
        if let running = postmaster(), running.isAlive {
            throw PostgresError(code: .rewindFailed, message: "Postgres of replica \(replica) is running (pid \(running.pid)); stop it before pg_rewind")
        }
        let account = try prepareKetchDirectory()
        try writePassFile(replication, owner: account)
        try await checkpoint(source, replication: replication)
        let conninfo = Conninfo.render([
            ("host", source.host), ("port", String(source.port)), ("user", replication.user),
            ("dbname", "postgres"), ("application_name", "\(settings.applicationName)-rewind"), ("connect_timeout", "5"),
        ])
        let logOffset = PostgresLog.size(of: logFile)
        let output = try await runner.run("pg_rewind", [
            "--target-pgdata=\(dataDirectory)", "--source-server=\(conninfo)",
        ], environment: ["PGPASSFILE": passFile], workingDirectory: ketchDataDirectory, timeout: timeout)
        guard output.status == 0 else {
            let line = output.errorLine ?? PostgresLog.errorLine(in: PostgresLog.read(logFile, from: logOffset))
            throw PostgresError(code: .rewindFailed, message: "pg_rewind of \(dataDirectory) from \(source.host):\(source.port) failed: \(line ?? "exit status \(output.status)"); set the copy aside and clone it again", postgresLine: line, detail: output.tail)
        }
        try writeConfiguration(settings, replication: replication)
    }

    /// A freshly promoted server writes its new timeline into pg_control only at its next
    /// checkpoint; until then pg_rewind sees one timeline and wrongly reports that no rewind is
    /// needed. So force that checkpoint first.
    private func checkpoint(_ source: UpstreamServer, replication: ReplicationCredentials) async throws {
        do {
            let connection = try await PGConnection.connect(ConnectionOptions(
                host: source.host, port: source.port, user: replication.user, database: "postgres",
                password: replication.password, applicationName: "ketch-rewind"))
            try await connection.query("CHECKPOINT")
            await connection.close()
        } catch let error as PostgresError {
            throw PostgresError(code: .rewindFailed, message: "cannot checkpoint the rewind source \(source.host):\(source.port) before pg_rewind: \(error.message)", postgresLine: error.postgresLine, sqlState: error.sqlState)
        }
    }

    /// Renames the data directory to `<replica-id>.aside-<UTC time>` and returns the new path:
    /// this is how a copy is replaced (see `pruneAside` for how many are kept).
    @discardableResult
    public func setAside(now: Date = Date()) throws -> String {
        if let running = postmaster(), running.isAlive {
            throw PostgresError(code: .filesystem, message: "Postgres of replica \(replica) is running (pid \(running.pid)); stop it before setting its data aside")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        let base = dataDirectory + ".aside-" + formatter.string(from: now)
        var target = base
        var attempt = 1
        while PostgresFiles.exists(target) {
            attempt += 1
            target = "\(base)-\(attempt)"
        }
        guard rename(dataDirectory, target) == 0 else {
            throw PostgresFiles.failure("cannot rename \(dataDirectory) to \(target)")
        }
        return target
    }

    /// Undoes `setAside` after a clone that failed: whatever the clone left in the data directory
    /// (a partial base backup, not data anyone wrote) is removed and `aside` renamed back.
    public func restoreAside(_ aside: String) throws {
        if let running = postmaster(), running.isAlive {
            throw PostgresError(code: .filesystem, message: "Postgres of replica \(replica) is running (pid \(running.pid)); stop it before restoring \(aside)")
        }
        guard PostgresFiles.exists(aside + "/PG_VERSION") else {
            throw PostgresError(code: .filesystem, message: "\(aside) holds no Postgres copy; nothing to put back")
        }
        if FileManager.default.fileExists(atPath: dataDirectory) {
            do { try FileManager.default.removeItem(atPath: dataDirectory) } catch {
                throw PostgresError(code: .filesystem, message: "cannot remove the partial copy \(dataDirectory) to put \(aside) back: \(error.localizedDescription)")
            }
        }
        guard rename(aside, dataDirectory) == 0 else {
            throw PostgresFiles.failure("cannot rename \(aside) back to \(dataDirectory)")
        }
    }

    /// The copies `setAside` made of this replica, oldest first (the names carry their UTC time).
    public func asideCopies() -> [String] {
        let prefix = replica.rawValue + ".aside-"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: ketchDataDirectory)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted().map(path)
    }

    /// Deletes all but the newest `keep` set-aside copies and returns what it deleted. A copy is
    /// set aside only when it is replaced by a clone of the current primary, which holds every
    /// acknowledged write, so an old copy is kept for the operator's inspection, not for safety;
    /// kept without bound they fill the disk: a server re-cloned five times in a few minutes
    /// filled its data filesystem and stopped every copy on it (fault run diskfull 6005).
    @discardableResult
    public func pruneAside(keeping keep: Int) throws -> [String] {
        let copies = asideCopies()
        guard copies.count > max(keep, 0) else { return [] }
        let doomed = copies.dropLast(max(keep, 0))
        for copy in doomed {
            do { try FileManager.default.removeItem(atPath: copy) } catch {
                throw PostgresError(code: .filesystem, message: "cannot remove the old set-aside copy \(copy): \(error.localizedDescription); remove it by hand or free space")
            }
        }
        return Array(doomed)
    }

    // MARK: Configuration

    /// Writes `ketch.conf` (included from postgresql.conf), pg_hba.conf, pg_ident.conf and, when
    /// `replication` is given, the passfile; creates `standby.signal` when `settings.upstream` is
    /// set. Takes effect on the next start or `reload` (address and port need a restart).
    public func writeConfiguration(_ settings: PostgresSettings, replication: ReplicationCredentials?) throws {
        try settings.validate()
        let account = try prepareKetchDirectory()
        guard isInitialized else {
            throw PostgresError(code: .notRunning, message: "\(dataDirectory) is not a Postgres data directory; initialize or clone it first")
        }
        if let replication { try writePassFile(replication, owner: account) }
        let files = ConfigurationFiles(settings: settings, socketDirectory: socketDirectory,
                                       passFile: replication == nil ? nil : passFile,
                                       replicationUser: replication?.user,
                                       mappedOSUsers: [OSAccount.currentName(), account.name])
        try PostgresFiles.write(files.ketchConf, to: inData("ketch.conf"), owner: account)
        try PostgresFiles.write(files.hbaConf, to: inData("pg_hba.conf"), owner: account)
        try PostgresFiles.write(files.identConf, to: inData("pg_ident.conf"), owner: account)
        let mainConf = inData("postgresql.conf")
        let main = PostgresFiles.read(mainConf) ?? ""
        if !main.contains(ConfigurationFiles.includeLine) {
            try PostgresFiles.write(main + "\n" + ConfigurationFiles.includeLine + "\n", to: mainConf, owner: account)
        }
        let autoConf = inData("postgresql.auto.conf")
        if let auto = PostgresFiles.read(autoConf) {
            let kept = ConfigurationFiles.withoutManagedSettings(auto)
            if kept != auto { try PostgresFiles.write(kept, to: autoConf, owner: account) }
        }
        if settings.upstream != nil {
            try PostgresFiles.write("", to: inData("standby.signal"), owner: account)
        }
    }

    /// Puts `standby.signal` in place or removes it: with it (and no `primary_conninfo`) the
    /// copy starts in standby mode and writes no WAL; without it, it starts as a primary.
    public func setStandbySignal(_ present: Bool) throws {
        let path = inData("standby.signal")
        if present {
            try PostgresFiles.write("", to: path, owner: try tools.account())
        } else if PostgresFiles.exists(path), unlink(path) != 0 {
            throw PostgresFiles.failure("cannot remove \(path)")
        }
    }

    /// Rewrites the configuration and, if the server runs, reloads it: the way to change
    /// `synchronous_standby_names` or `primary_conninfo` without a restart.
    public func apply(_ settings: PostgresSettings, replication: ReplicationCredentials?) async throws {
        try writeConfiguration(settings, replication: replication)
        if postmaster()?.isAlive == true { try await reload() }
    }

    // MARK: Running

    /// Starts the server and waits until it accepts connections (or, for a standby, until it is
    /// consistent). Returns the postmaster's PID. If it fails, the error carries the FATAL line
    /// from the server log (e.g. the port is taken). Already running: returns its PID.
    @discardableResult
    public func start(timeout: Duration = .seconds(60)) async throws -> Int32 {
        if let running = postmaster(), running.isAlive { return running.pid }
        await waitUntilReaped()
        _ = try prepareKetchDirectory()
        let seconds = max(1, Int(timeout.components.seconds))
        let logOffset = PostgresLog.size(of: logFile)
        let output = try await runner.run("pg_ctl", [
            "start", "--pgdata=\(dataDirectory)", "--log=\(logFile)", "--wait", "--timeout=\(seconds)", "--silent",
        ], workingDirectory: ketchDataDirectory, timeout: timeout + .seconds(15))
        if output.status == 0, let running = postmaster(), running.isAlive { return running.pid }
        let log = PostgresLog.read(logFile, from: logOffset)
        let line = PostgresLog.errorLine(in: log) ?? output.errorLine
        let stillStarting = postmaster()?.isAlive == true
        throw PostgresError(code: stillStarting ? .timedOut : .startFailed,
                            message: "Postgres of replica \(replica) did not \(stillStarting ? "become ready within \(seconds) s" : "start"): \(line ?? "no error in \(logFile)"); see \(logFile)",
                            postgresLine: line, detail: log.split(separator: "\n").suffix(12).joined(separator: "\n"))
    }

    public enum StopMode: String, Sendable {
        /// Waits for clients to disconnect.
        case smart
        /// Disconnects clients, shuts down cleanly (a checkpoint).
        case fast
        /// Kills the server at once; the next start runs crash recovery.
        case immediate
    }

    /// Stops the server and waits until it is gone. Not running: returns at once.
    public func stop(mode: StopMode = .fast, timeout: Duration = .seconds(60)) async throws {
        guard let running = postmaster(), running.isAlive else { return }
        let seconds = max(1, Int(timeout.components.seconds))
        let output = try await runner.run("pg_ctl", [
            "stop", "--pgdata=\(dataDirectory)", "--mode=\(mode.rawValue)", "--wait", "--timeout=\(seconds)", "--silent",
        ], workingDirectory: ketchDataDirectory, timeout: timeout + .seconds(15))
        if output.status != 0, postmaster()?.isAlive == true {
            throw PostgresError(code: .stopFailed, message: "Postgres of replica \(replica) (pid \(running.pid)) did not stop: \(output.errorLine ?? "exit status \(output.status)")", postgresLine: output.errorLine, detail: output.tail)
        }
    }

    /// Re-reads the configuration files (SIGHUP through pg_ctl).
    public func reload() async throws {
        let output = try await runner.run("pg_ctl", ["reload", "--pgdata=\(dataDirectory)", "--silent"],
                                          workingDirectory: ketchDataDirectory, timeout: .seconds(30))
        guard output.status == 0 else {
            throw PostgresError(code: .reloadFailed, message: "reload of replica \(replica) failed: \(output.errorLine ?? "exit status \(output.status)")", postgresLine: output.errorLine, detail: output.tail)
        }
    }

    /// Ends recovery with `pg_ctl promote --wait`: returns once the server accepts writes.
    public func promote(timeout: Duration = .seconds(60)) async throws {
        let seconds = max(1, Int(timeout.components.seconds))
        let logOffset = PostgresLog.size(of: logFile)
        let output = try await runner.run("pg_ctl", [
            "promote", "--pgdata=\(dataDirectory)", "--wait", "--timeout=\(seconds)", "--silent",
        ], workingDirectory: ketchDataDirectory, timeout: timeout + .seconds(15))
        guard output.status == 0 else {
            let line = output.errorLine ?? PostgresLog.errorLine(in: PostgresLog.read(logFile, from: logOffset))
            throw PostgresError(code: .promoteFailed, message: "promotion of replica \(replica) failed: \(line ?? "exit status \(output.status)")", postgresLine: line, detail: output.tail)
        }
    }

    /// Where the server log ends now: pass it to `cannotFollowLine(since:)`.
    public var logEnd: UInt64 { PostgresLog.size(of: logFile) }

    /// The line logged since `offset` that says this standby cannot follow its upstream onto the
    /// upstream's timeline — its own WAL went past the point where that timeline forked off, so
    /// only pg_rewind (or a new clone) can make it a standby of that server — or nil. "Highest
    /// timeline N of the primary is behind recovery timeline M" (clock seed 6011: a copy that had
    /// replayed a timeline its new primary never had) is one too: waiting never changes it.
    public func cannotFollowLine(since offset: UInt64) -> String? {
        let markers = ["is not in this server's history", "forked off current database system timeline",
                       "is not a child of this server's history", "requested timeline",
                       "of the primary is behind recovery timeline"] + Self.upstreamLacksWALMarkers
        return firstLine(since: offset, containing: markers)
    }

    /// The line logged since `offset` that says the upstream no longer has WAL this standby
    /// needs, or nil. pg_rewind cannot help then: it copies what the source has. Seen after
    /// several promotions inside one 16 MB segment: each renames the old timeline's last segment
    /// to `.partial`, and a walsender asked for an older timeline finds no file to read
    /// (reliability finding 13). Only a new clone makes such a copy a standby again.
    ///
    /// The same holds when this copy asks for WAL past the upstream's end on what Postgres thinks
    /// is one timeline ("requested starting point … is ahead of the WAL flush position"): two
    /// servers promoted on either side of a partition each picked the next free timeline ID and
    /// so the same one, from different fork points. pg_rewind sees one timeline and finds nothing
    /// to rewind, and every follow waited 10 s and rewound in vain (finding 22, partition seed
    /// 6022: 45 s without a primary). A walsender never sends WAL past its own flush position,
    /// so a copy ahead of its new primary on the primary's timeline always holds WAL of its own.
    public func upstreamLacksWALLine(since offset: UInt64) -> String? {
        firstLine(since: offset, containing: Self.upstreamLacksWALMarkers)
    }

    static let upstreamLacksWALMarkers = ["has already been removed", "is ahead of the WAL flush position of this server"]

    private func firstLine(since offset: UInt64, containing markers: [String]) -> String? {
        PostgresLog.read(logFile, from: offset).split(separator: "\n")
            .first { line in markers.contains { line.contains($0) } }
            .map { PostgresLog.stripPrefix(String($0)) }
    }

    /// A postmaster that was killed (by `ketch-fence` at a lease deadline, or `killHung`) has no
    /// parent but init once `pg_ctl` has exited, and stays a zombie until init reaps it. Postgres
    /// checks the lock file's PID with kill(pid, 0), which a zombie passes, and refuses to start
    /// ("lock file postmaster.pid already exists"); a park right after a lease fence failed that
    /// way on a machine whose init reaps late. So a start waits, up to `within`, for it.
    private func waitUntilReaped(within: Duration = .seconds(5)) async {
        guard let pid = postmaster()?.pid, pid > 0 else { return }
        let deadline = ContinuousClock.now + within
        while Self.isZombie(pid), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Whether `/proc` lists `pid` as a zombie (state `Z`).
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "Z"
    }

    /// What `postmaster.pid` says, or nil when there is no such file.
    public func postmaster() -> PostmasterInfo? {
        guard let text = PostgresFiles.read(inData("postmaster.pid")) else { return nil }
        return PostmasterInfo(pidFile: text)
    }

    /// SIGKILLs the postmaster and the children the kernel lists for it, and waits (at most
    /// `within`) until the postmaster is gone. For a Postgres that no longer answers: a
    /// stopped or hung process takes no other signal, and its sessions must not wake up and
    /// serve (what `ketch-fence` does at a lease deadline, done at once). Returns whether a
    /// postmaster was running.
    @discardableResult
    public func killHung(within: Duration = .seconds(5)) async -> Bool {
        guard let running = postmaster(), running.isAlive else { return false }
        let listed = (try? String(contentsOfFile: "/proc/\(running.pid)/task/\(running.pid)/children", encoding: .utf8)) ?? ""
        let children = listed.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        kill(running.pid, SIGKILL)
        for child in children { kill(child, SIGKILL) }
        let deadline = ContinuousClock.now + within
        while postmaster()?.isAlive == true, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Connection options for the superuser over the unix socket in `<data-dir>`.
    public func adminConnectionOptions(port: Int, connectTimeoutSeconds: Int = 5) -> ConnectionOptions {
        ConnectionOptions(host: socketDirectory, port: port, user: Self.superuser, database: "postgres",
                          connectTimeoutSeconds: connectTimeoutSeconds, applicationName: "ketch-node")
    }

    // MARK: Helpers

    private func inData(_ name: String) -> String { (dataDirectory as NSString).appendingPathComponent(name) }

    /// Lets the OS user create sockets, lock files and logs directly in `<data-dir>` (as the seed
    /// lays them out) without taking the directory away from the node: the group becomes the
    /// OS user's group with rwx, plus the sticky bit so neither side can remove the other's files.
    @discardableResult
    private func prepareKetchDirectory() throws -> OSAccount {
        let account = try tools.account()
        var info = stat()
        guard stat(ketchDataDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw PostgresError(code: .filesystem, message: "data directory \(ketchDataDirectory) does not exist; create it first")
        }
        // The directory itself is opened up below; its ancestors must already let the user in.
        try PostgresFiles.checkReachable((ketchDataDirectory as NSString).deletingLastPathComponent, by: account)
        if info.st_uid != account.uid {
            if info.st_gid != account.gid, chown(ketchDataDirectory, info.st_uid, account.gid) != 0 {
                throw PostgresFiles.failure("cannot give group \(account.name) access to \(ketchDataDirectory)")
            }
            let wanted = (info.st_mode & 0o7777) | 0o1070
            if info.st_mode & 0o7777 != wanted, chmod(ketchDataDirectory, wanted) != 0 {
                throw PostgresFiles.failure("cannot set the mode of \(ketchDataDirectory)")
            }
        }
        return account
    }

    private func writePassFile(_ credentials: ReplicationCredentials, owner account: OSAccount) throws {
        try PostgresSettings.checkToken(credentials.user, what: "replication user")
        guard !credentials.password.isEmpty, !credentials.password.contains("\n") else {
            throw PostgresError(code: .invalidArgument, message: "the replication password is empty or contains a newline")
        }
        let escaped = credentials.password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        try PostgresFiles.write("*:*:*:\(credentials.user):\(escaped)\n", to: passFile, owner: account, mode: 0o600)
    }
}

/// The contents of `postmaster.pid`.
public struct PostmasterInfo: Sendable, Equatable {
    public var pid: Int32
    public var port: Int?
    /// `starting`, `stopping`, `ready` or `standby` (Postgres's own words).
    public var status: String?

    init?(pidFile text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.first, let pid = Int32(first), pid > 0 else { return nil }
        self.pid = pid
        port = lines.count > 3 ? Int(lines[3]) : nil
        status = lines.count > 7 && !lines[7].isEmpty ? lines[7] : nil
    }

    /// Whether the process still exists and is a Postgres server: a stale file survives a
    /// crash, and after a reboot its PID may belong to something else.
    public var isAlive: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return true }
        return String(decoding: command, as: UTF8.self).contains("postgres")
    }
}

/// libpq key/value connection strings.
enum Conninfo {
    /// `key='value' …` with backslashes and quotes escaped as libpq expects.
    static func render(_ pairs: [(String, String)]) -> String {
        pairs.map { key, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            return "\(key)='\(escaped)'"
        }.joined(separator: " ")
    }
}
