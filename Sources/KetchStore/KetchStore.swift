import Foundation
import KetchShared

/// `<data-dir>/ketch.db`: this server's identity and the protocol core's durable state.
///
/// SQLite in WAL mode with `synchronous=FULL`, so every write method returns only after its
/// transaction is on disk — the node relies on that to keep "persist before send". One
/// connection, serialised by a lock: calls may come from any task or thread, but each call
/// blocks its thread for the duration of an fsync, so callers that must not block (the node's
/// event loop) should call from a thread of their own.
///
/// The data directory lock is not taken here; the node takes it before opening the store.
public final class KetchStore: @unchecked Sendable {
    public static let fileName = "ketch.db"
    /// The schema this build writes. A file with a higher version is refused, never downgraded.
    public static let schemaVersion: Int64 = 1

    /// Full path of the database file.
    public let path: String
    private let lock = NSLock()
    private let connection: SQLiteConnection

    private init(path: String, connection: SQLiteConnection) {
        self.path = path
        self.connection = connection
    }

    /// Opens `<dataDirectory>/ketch.db`, creating the file (not the directory) when missing.
    ///
    /// Throws `StoreError` with `.directoryMissing`, `.notADirectory`,
    /// `.directoryNotAccessible`, `.cannotOpen`, `.corrupt` or `.newerSchema`.
    public static func open(dataDirectory: String, busyTimeoutMs: Int32 = 5_000) throws -> KetchStore {
        try checkDirectory(dataDirectory)
        let path = (dataDirectory as NSString).appendingPathComponent(fileName)
        var isDirectory: ObjCBool = false
        let existed = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if existed && isDirectory.boolValue {
            throw StoreError(code: .cannotOpen, message: "\(path) is a directory, not a database file; move it aside")
        }
        if !existed {
            // The node keeps database passwords here: create the file private before SQLite
            // opens it (its -wal and -shm files copy this mode).
            let fd = Foundation.open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                throw StoreError(code: .cannotOpen, message: "cannot create \(path): \(reason); check that the data directory is writable")
            }
            Foundation.close(fd)
        }
        let connection = try SQLiteConnection(path: path)
        do {
            try connection.setBusyTimeout(milliseconds: busyTimeoutMs)
            let mode = try connection.query("PRAGMA journal_mode=WAL") { $0.text(0) ?? "" }
            guard mode.first?.lowercased() == "wal" else {
                throw StoreError(code: .io, message: "\(path): the file system refused WAL mode (got '\(mode.first ?? "")'); put the data directory on a local file system")
            }
            try connection.execute("PRAGMA synchronous=FULL")
            let check = try connection.query("PRAGMA quick_check") { $0.text(0) ?? "" }
            guard check == ["ok"] else {
                throw StoreError(code: .corrupt, message: "\(path) fails its integrity check (\(check.prefix(3).joined(separator: "; "))); move the file aside (this server then joins as a new identity); never restore it from a backup: an older ketch.db takes back promises and grants this server's acceptor gave, which can let two servers hold one lease")
            }
            try migrate(connection, path: path)
        } catch {
            connection.close()
            throw error
        }
        if !existed { syncDirectory(dataDirectory) }
        return KetchStore(path: path, connection: connection)
    }

    /// Closes the file; later calls throw `.closed`. Also done on deinit.
    public func close() {
        lock.withLock { connection.close() }
    }

    // MARK: Runtime identity

    /// The identity saved by `saveRuntime`, or nil for a data directory used for the first time.
    public func runtime() throws -> RuntimeIdentity? {
        try lock.withLock {
            try connection.query("""
                SELECT server_id, name, member_addr, member_port, api_addr, api_port, created_at_unix_ms
                FROM runtime WHERE id = 1
                """) { row in
                RuntimeIdentity(
                    serverID: ServerID(row.text(0) ?? ""),
                    name: row.text(1) ?? "",
                    memberEndpoint: Endpoint(addr: row.text(2) ?? "", port: Int(row.integer(3))),
                    apiEndpoint: Endpoint(addr: row.text(4) ?? "", port: Int(row.integer(5))),
                    createdAtUnixMs: row.integer(6))
            }.first
        }
    }

    /// Saves (or replaces) the identity; durable on return.
    public func saveRuntime(_ identity: RuntimeIdentity) throws {
        guard !identity.serverID.rawValue.isEmpty else {
            throw StoreError(code: .invalidRecord, message: "\(path): refusing to save a runtime identity with an empty server ID")
        }
        try lock.withLock {
            try connection.transaction {
                try connection.run("""
                    INSERT OR REPLACE INTO runtime
                    (id, server_id, name, member_addr, member_port, api_addr, api_port, created_at_unix_ms)
                    VALUES (1, ?, ?, ?, ?, ?, ?, ?)
                    """, [
                    .text(identity.serverID.rawValue), .text(identity.name),
                    .text(identity.memberEndpoint.addr), .integer(Int64(identity.memberEndpoint.port)),
                    .text(identity.apiEndpoint.addr), .integer(Int64(identity.apiEndpoint.port)),
                    .integer(identity.createdAtUnixMs),
                ])
            }
        }
    }

    // MARK: Records

    /// Stores `value` under (`kind`, `key`), replacing any previous value; durable on return.
    public func put(kind: String, key: String, value: Data) throws {
        try write([.put(kind: kind, key: key, value: value)])
    }

    /// The value under (`kind`, `key`), or nil.
    public func get(kind: String, key: String) throws -> Data? {
        try lock.withLock {
            try connection.query("SELECT value FROM records WHERE kind = ? AND key = ?", [.text(kind), .text(key)]) { $0.blob(0) }.first
        }
    }

    /// Every record of `kind`, sorted by key (byte order of the UTF-8 key).
    public func all(kind: String) throws -> [StoreRecord] {
        try lock.withLock {
            try connection.query("SELECT key, value FROM records WHERE kind = ? ORDER BY key", [.text(kind)]) {
                StoreRecord(key: $0.text(0) ?? "", value: $0.blob(1))
            }
        }
    }

    /// Removes (`kind`, `key`) if present; durable on return.
    public func delete(kind: String, key: String) throws {
        try write([.delete(kind: kind, key: key)])
    }

    /// Applies every put and delete in one transaction: on return all of them are durable; on a
    /// throw none of them happened.
    ///
    /// `sync: false` skips the fsync: the transaction survives the process (it is in the
    /// kernel's cache once this returns) but not a power loss, until a later synced write or
    /// checkpoint. For state a reboot discards anyway (an acceptor's lease grants and promises,
    /// dropped with a new boot ID), so that lease renewals do not each wait for a disk that eight
    /// parallel clones keep busy (issue 22: leases lost within seconds of opening).
    public func write(_ batch: [StoreWrite], sync: Bool = true) throws {
        guard !batch.isEmpty else { return }
        try lock.withLock {
            if !sync { try connection.execute("PRAGMA synchronous=NORMAL") }
            defer { if !sync { try? connection.execute("PRAGMA synchronous=FULL") } }
            try connection.transaction {
                for change in batch {
                    switch change {
                    case .put(let kind, let key, let value):
                        try connection.run("INSERT OR REPLACE INTO records (kind, key, value) VALUES (?, ?, ?)", [.text(kind), .text(key), .blob(value)])
                    case .delete(let kind, let key):
                        try connection.run("DELETE FROM records WHERE kind = ? AND key = ?", [.text(kind), .text(key)])
                    }
                }
            }
        }
    }

    /// Makes every transaction written so far with `sync: false` durable: an fsync of the WAL
    /// file, outside the store's lock, so writes go on meanwhile. In WAL mode a commit is its
    /// frames in `ketch.db-wal`; SQLite syncs that file before it checkpoints frames into the
    /// database and syncs the database after, so frames already checkpointed are durable too.
    public func syncWrittenToDisk() throws {
        let wal = path + "-wal"
        let fd = Foundation.open(FileManager.default.fileExists(atPath: wal) ? wal : path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw StoreError(code: .io, message: "cannot open \(wal) to sync it: \(String(cString: strerror(errno)))")
        }
        defer { Foundation.close(fd) }
        guard fsync(fd) == 0 else {
            throw StoreError(code: .io, message: "fsync of \(wal) failed: \(String(cString: strerror(errno))); the disk under the data directory is failing")
        }
    }

    // MARK: Sequences

    /// Returns the next value of the durable counter `name`, strictly greater than every value
    /// it returned before (also across restarts) and than `above`. The first value is 1 (or
    /// `above + 1`). Ballots and epoch numbers come from here: a proposer that saw a higher
    /// ballot passes it as `above`. Durable on return.
    public func nextSequence(name: String, above: UInt64 = 0) throws -> UInt64 {
        guard above < UInt64(Int64.max) else {
            throw StoreError(code: .invalidRecord, message: "\(path): sequence '\(name)' cannot go above \(Int64.max - 1)")
        }
        return try lock.withLock {
            try connection.transaction {
                let values = try connection.query("""
                    INSERT INTO sequences (name, value) VALUES (?1, ?2 + 1)
                    ON CONFLICT (name) DO UPDATE SET value = max(value, ?2) + 1
                    RETURNING value
                    """, [.text(name), .integer(Int64(above))]) { $0.integer(0) }
                guard let value = values.first, value > 0 else {
                    throw StoreError(code: .badValue, message: "\(path): sequence '\(name)' returned no value")
                }
                return UInt64(value)
            }
        }
    }

    /// The last value `nextSequence(name:)` returned, or 0 if it never did.
    public func currentSequence(name: String) throws -> UInt64 {
        try lock.withLock {
            let value = try connection.query("SELECT value FROM sequences WHERE name = ?", [.text(name)]) { $0.integer(0) }.first ?? 0
            return UInt64(max(value, 0))
        }
    }

    // MARK: Internals

    /// Overwrites the stored schema version; only for tests of the "newer schema" refusal.
    func setSchemaVersionForTesting(_ version: Int64) throws {
        try lock.withLock {
            try connection.transaction { try connection.run("UPDATE ketch_schema SET version = ? WHERE id = 1", [.integer(version)]) }
        }
    }

    private static func checkDirectory(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        guard !directory.isEmpty, FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw StoreError(code: .directoryMissing, message: "data directory '\(directory)' does not exist; create it (mkdir -p) or pass another --data-dir")
        }
        guard isDirectory.boolValue else {
            throw StoreError(code: .notADirectory, message: "data directory '\(directory)' is not a directory; pass a directory as --data-dir")
        }
        guard access(directory, R_OK | W_OK | X_OK) == 0 else {
            throw StoreError(code: .directoryNotAccessible, message: "data directory '\(directory)' is not readable and writable by user id \(geteuid()); fix its owner or mode (chown/chmod) or pass another --data-dir")
        }
    }

    /// Creates the tables on first use and refuses files written by a newer schema.
    private static func migrate(_ connection: SQLiteConnection, path: String) throws {
        try connection.transaction {
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS ketch_schema (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    version INTEGER NOT NULL)
                """)
            let found = try connection.query("SELECT version FROM ketch_schema WHERE id = 1") { $0.integer(0) }.first
            if let found, found > schemaVersion {
                throw StoreError(code: .newerSchema, message: "\(path) has schema version \(found) but this ketch-node knows versions up to \(schemaVersion); run a newer ketch-node")
            }
            if found == nil {
                try connection.execute("""
                    CREATE TABLE runtime (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        server_id TEXT NOT NULL CHECK (length(server_id) > 0),
                        name TEXT NOT NULL,
                        member_addr TEXT NOT NULL,
                        member_port INTEGER NOT NULL,
                        api_addr TEXT NOT NULL,
                        api_port INTEGER NOT NULL,
                        created_at_unix_ms INTEGER NOT NULL);
                    CREATE TABLE records (
                        kind TEXT NOT NULL CHECK (length(kind) > 0),
                        key TEXT NOT NULL CHECK (length(key) > 0),
                        value BLOB NOT NULL,
                        PRIMARY KEY (kind, key)) WITHOUT ROWID;
                    CREATE TABLE sequences (
                        name TEXT PRIMARY KEY CHECK (length(name) > 0),
                        value INTEGER NOT NULL CHECK (value > 0)) WITHOUT ROWID;
                    """)
                try connection.run("INSERT INTO ketch_schema (id, version) VALUES (1, ?)", [.integer(schemaVersion)])
            }
        }
    }

    /// Makes the new file's directory entry durable too, so a crash right after the first
    /// open cannot lose the file that holds the identity.
    private static func syncDirectory(_ directory: String) {
        let fd = Foundation.open(directory, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        Foundation.close(fd)
    }
}
