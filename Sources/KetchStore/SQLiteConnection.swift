import CSQLite
import Foundation

/// A value bound to a statement parameter.
enum SQLValue {
    case text(String)
    case blob(Data)
    case integer(Int64)
}

/// One row of a result, read by column index.
struct SQLRow {
    fileprivate let statement: OpaquePointer

    func text(_ column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: bytes)
    }

    func blob(_ column: Int32) -> Data {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return Data() }
        return Data(bytes: bytes, count: count)
    }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
}

/// A single SQLite connection. Not thread-safe on its own: `KetchStore` serialises every use
/// behind its lock, which is why the connection is opened with `SQLITE_OPEN_NOMUTEX`.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?

    init(path: String) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        if rc != SQLITE_OK {
            let text = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteConnection.error(rc: rc, text: text, path: path, doing: "open")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    func close() {
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    func setBusyTimeout(milliseconds: Int32) throws {
        let db = try open()
        sqlite3_busy_timeout(db, milliseconds)
    }

    /// Runs statements that return nothing interesting (pragmas that set, DDL, BEGIN/COMMIT).
    func execute(_ sql: String) throws {
        let db = try open()
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw lastError(rc: rc, doing: sql) }
    }

    /// Runs one statement with parameters and maps every row.
    func query<T>(_ sql: String, _ parameters: [SQLValue] = [], row map: (SQLRow) throws -> T) throws -> [T] {
        let db = try open()
        var statement: OpaquePointer?
        let prepared = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard prepared == SQLITE_OK, let statement else { throw lastError(rc: prepared, doing: sql) }
        defer { sqlite3_finalize(statement) }
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .text(let text):
                rc = sqlite3_bind_text(statement, index, text, -1, ketch_sqlite_transient())
            case .integer(let number):
                rc = sqlite3_bind_int64(statement, index, number)
            case .blob(let data):
                rc = data.withUnsafeBytes { raw in
                    // A zero-length blob still needs a non-NULL pointer or SQLite stores NULL.
                    sqlite3_bind_blob(statement, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), ketch_sqlite_transient())
                }
            }
            if rc != SQLITE_OK { throw lastError(rc: rc, doing: sql) }
        }
        var rows: [T] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_ROW {
                rows.append(try map(SQLRow(statement: statement)))
            } else if rc == SQLITE_DONE {
                return rows
            } else {
                throw lastError(rc: rc, doing: sql)
            }
        }
    }

    /// Runs one statement with parameters, ignoring any rows.
    func run(_ sql: String, _ parameters: [SQLValue] = []) throws {
        _ = try query(sql, parameters) { _ in () }
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`; any error rolls the whole thing back.
    /// `BEGIN IMMEDIATE` takes the write lock up front so a busy database fails at the start
    /// rather than half-way through.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if let db = handle, sqlite3_get_autocommit(db) == 0 {
                sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            }
            throw error
        }
    }

    private func open() throws -> OpaquePointer {
        guard let handle else {
            throw StoreError(code: .closed, message: "\(path) was closed; open the store again")
        }
        return handle
    }

    private func lastError(rc: Int32, doing: String) -> StoreError {
        let text = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection"
        return SQLiteConnection.error(rc: rc, text: text, path: path, doing: doing)
    }

    /// Turns a SQLite result code into a `StoreError` whose message says what to do.
    static func error(rc: Int32, text: String, path: String, doing: String) -> StoreError {
        let primary = rc & 0xff
        let code: StoreError.Code
        let fix: String
        switch primary {
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            code = .corrupt
            fix = "move the file aside (this server then joins as a new identity); never restore it from a backup: an older ketch.db takes back promises and grants this server's acceptor gave, which can let two servers hold one lease"
        case SQLITE_READONLY:
            code = .readOnly
            fix = "make the file and its directory writable by this user"
        case SQLITE_FULL:
            code = .diskFull
            fix = "free space on the file system that holds the data directory"
        case SQLITE_BUSY, SQLITE_LOCKED:
            code = .busy
            fix = "another process holds the database; stop it (is another ketch-node using this data directory?)"
        case SQLITE_CANTOPEN:
            code = .cannotOpen
            fix = "check that the data directory exists and is writable, and that the path is a regular file"
        case SQLITE_CONSTRAINT:
            code = .invalidRecord
            fix = "records need a non-empty kind and key"
        default:
            code = .io
            fix = "check the disk and the file's permissions"
        }
        return StoreError(code: code, message: "\(path): \(text) (sqlite \(rc) during \(doing.prefix(60))); \(fix)", sqliteCode: rc)
    }
}
