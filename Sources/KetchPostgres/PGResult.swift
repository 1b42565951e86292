/// One row of a query result, values in Postgres's text format.
public struct PGRow: Sendable, Equatable {
    public let columns: [String]
    public let values: [String?]

    public subscript(_ column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else { return nil }
        return values[index]
    }

    public func int64(_ column: String) -> Int64? { self[column].flatMap { Int64($0) } }
    public func double(_ column: String) -> Double? { self[column].flatMap { Double($0) } }
    public func bool(_ column: String) -> Bool? {
        switch self[column] { case "t": true; case "f": false; default: nil }
    }
    public func lsn(_ column: String) -> LSN? { self[column].flatMap { LSN($0) } }
}

/// What a statement returned: rows (text format), the command tag, and any notices or
/// warnings the server sent while running it — e.g. the WARNING that a commit was cancelled
/// while waiting for synchronous replication, which means it is *not* acknowledged by the quorum.
public struct PGResult: Sendable, Equatable {
    public var columns: [String]
    public var rows: [PGRow]
    public var commandTag: String
    public var notices: [String]

    public var first: PGRow? { rows.first }
}

/// How to reach a server. `description` never shows the password.
public struct ConnectionOptions: Sendable, Equatable, CustomStringConvertible {
    /// A host name, an IP address, or a unix socket directory (starting with `/`).
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var password: String?
    /// libpq counts whole seconds and treats values below 2 as 2.
    public var connectTimeoutSeconds: Int
    public var applicationName: String
    /// Sent as `-c statement_timeout=…`; nil leaves the server's default.
    public var statementTimeoutMs: Int?

    public init(host: String, port: Int, user: String, database: String, password: String? = nil,
                connectTimeoutSeconds: Int = 5, applicationName: String = "ketch", statementTimeoutMs: Int? = nil) {
        self.host = host; self.port = port; self.user = user; self.database = database; self.password = password
        self.connectTimeoutSeconds = connectTimeoutSeconds; self.applicationName = applicationName
        self.statementTimeoutMs = statementTimeoutMs
    }

    public var description: String { "\(user)@\(host):\(port)/\(database)" }

    var keywordValues: [(String, String)] {
        var pairs: [(String, String)] = [
            ("host", host), ("port", String(port)), ("user", user), ("dbname", database),
            ("connect_timeout", String(connectTimeoutSeconds)), ("application_name", applicationName),
            // Never pick up a password from ~/.pgpass: a passfile that does not exist is
            // skipped silently (libpq warns about /dev/null).
            ("passfile", "/nonexistent/ketch-uses-no-passfile"),
        ]
        if let password { pairs.append(("password", password)) }
        if let statementTimeoutMs { pairs.append(("options", "-c statement_timeout=\(statementTimeoutMs)")) }
        return pairs
    }
}
