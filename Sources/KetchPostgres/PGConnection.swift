import CLibPQ
import Foundation

/// One libpq connection, confined to its own thread.
///
/// The actor's executor is a dedicated thread, so every libpq call — including one that blocks
/// for seconds — runs there and never on the cooperative pool. Create with `connect`, close with
/// `close()` (also done on deinit). Queries are parameterised (`$1`, `$2`, …, text format).
public actor PGConnection {
    private let executor: ThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private var handle: OpaquePointer?
    private let notices = NoticeCollector()
    private let canceller = Canceller()
    public nonisolated let options: ConnectionOptions

    private init(options: ConnectionOptions) {
        self.options = options
        executor = ThreadExecutor(name: "libpq \(options.description)")
    }

    /// Runs on the connection's own thread, like every other libpq call, then lets it exit.
    isolated deinit {
        canceller.clear()
        if let handle { PQfinish(handle) }
        executor.shutdown()
    }

    /// Opens a connection, waiting at most `options.connectTimeoutSeconds`.
    public static func connect(_ options: ConnectionOptions) async throws -> PGConnection {
        let connection = PGConnection(options: options)
        try await connection.open()
        return connection
    }

    private func open() throws {
        let pairs = options.keywordValues
        let connection = withCStrings(pairs.map(\.0)) { keywords in
            withCStrings(pairs.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 0)
            }
        }
        guard let connection else {
            throw PostgresError(code: .connectFailed, message: "could not connect to \(options): out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let text = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(code: .connectFailed, message: "could not connect to \(options): \(text)", postgresLine: text)
        }
        PQsetNoticeReceiver(connection, { argument, result in
            guard let argument, let result else { return }
            let collector = Unmanaged<NoticeCollector>.fromOpaque(argument).takeUnretainedValue()
            collector.append(PGConnection.trimmed(PQresultErrorMessage(result)))
        }, Unmanaged.passUnretained(notices).toOpaque())
        handle = connection
        canceller.set(PQgetCancel(connection))
    }

    /// Closes the connection; later queries throw `.connectionLost`.
    public func close() {
        canceller.clear()
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Asks the server to cancel whatever this connection is running. Safe to call from any
    /// thread while a query blocks — that is its purpose (e.g. a commit waiting for a standby).
    public nonisolated func cancel() {
        canceller.cancel()
    }

    /// Runs one statement with `$n` parameters (nil is SQL NULL) and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> PGResult {
        guard let handle else {
            throw PostgresError(code: .connectionLost, message: "connection to \(options) is closed; open a new one")
        }
        notices.clear()
        let result = withOptionalCStrings(parameters) { values in
            PQexecParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return decode(result!)
        default:
            let text = result.map { Self.trimmed(PQresultErrorMessage($0)) } ?? Self.trimmed(PQerrorMessage(handle))
            let sqlState = result.flatMap { PQresultErrorField($0, ketch_pg_diag_sqlstate()) }.map { String(cString: $0) }
            let primary = result.flatMap { PQresultErrorField($0, ketch_pg_diag_message_primary()) }.map { String(cString: $0) }
            if PQstatus(handle) != CONNECTION_OK {
                throw PostgresError(code: .connectionLost, message: "connection to \(options) was lost: \(text.isEmpty ? "no reply" : text); open a new one", postgresLine: text, sqlState: sqlState)
            }
            throw PostgresError(code: .queryFailed, message: "query on \(options) failed: \(primary ?? text)", postgresLine: text.split(separator: "\n").first.map(String.init), sqlState: sqlState)
        }
    }

    /// The first column of the first row, or nil.
    public func value(_ sql: String, _ parameters: [String?] = []) throws -> String? {
        try query(sql, parameters).first?.values.first ?? nil
    }

    /// A SCRAM-SHA-256 verifier for `password`, computed by libpq on this side so the password
    /// itself never reaches the server or its statement log.
    public func scramVerifier(user: String, password: String) throws -> String {
        guard let handle else {
            throw PostgresError(code: .connectionLost, message: "connection to \(options) is closed; open a new one")
        }
        guard let verifier = PQencryptPasswordConn(handle, password, user, "scram-sha-256") else {
            throw PostgresError(code: .queryFailed, message: "libpq could not compute a SCRAM verifier for role '\(user)': \(Self.trimmed(PQerrorMessage(handle)))")
        }
        defer { PQfreemem(verifier) }
        return String(cString: verifier)
    }

    /// `"name"` with embedded quotes doubled, for identifiers that cannot be parameters.
    public nonisolated static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `'text'` with embedded quotes doubled (standard_conforming_strings is on since 9.1).
    public nonisolated static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    private func decode(_ result: OpaquePointer) -> PGResult {
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        let rows = (0..<PQntuples(result)).map { row in
            PGRow(columns: columns, values: (0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            })
        }
        let tag = String(cString: PQcmdStatus(result))
        return PGResult(columns: columns, rows: rows, commandTag: tag, notices: notices.drain())
    }

    nonisolated static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Notices arrive through a C callback during a libpq call on the connection's thread.
private final class NoticeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ notice: String) { lock.withLock { items.append(notice) } }
    func clear() { lock.withLock { items.removeAll() } }
    func drain() -> [String] { lock.withLock { defer { items.removeAll() }; return items } }
}

/// libpq's `PGcancel` may be used from any thread; this guards its lifetime.
private final class Canceller: @unchecked Sendable {
    private let lock = NSLock()
    private var token: OpaquePointer?

    func set(_ token: OpaquePointer?) { lock.withLock { self.token = token } }

    func clear() {
        lock.withLock {
            if let token { PQfreeCancel(token) }
            token = nil
        }
    }

    func cancel() {
        lock.withLock {
            guard let token else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(token, &buffer, Int32(buffer.count))
        }
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Like `withCStrings`, with nil kept as a NULL entry (SQL NULL for a parameter).
private func withOptionalCStrings<T>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> T) -> T {
    let copies = strings.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
