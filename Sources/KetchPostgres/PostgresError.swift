/// Why a Postgres operation failed.
///
/// `code` is stable; `message` says what failed and how to fix it; `postgresLine` carries
/// Postgres's own error line (from its log, a tool's stderr, or a query error) so the node can
/// show it in `get dbmgr` and on the feed. Never carries a password.
public struct PostgresError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// A Postgres program is missing from the configured bin directory.
        case binariesMissing = "postgres.binaries-missing"
        /// The unprivileged OS user that must run Postgres does not exist.
        case userMissing = "postgres.user-missing"
        /// A directory or file could not be created, owned or renamed.
        case filesystem = "postgres.filesystem"
        /// An argument cannot be used (bad name, port, address).
        case invalidArgument = "postgres.invalid-argument"
        case initdbFailed = "postgres.initdb-failed"
        /// The server did not come up; `postgresLine` is the FATAL line from its log.
        case startFailed = "postgres.start-failed"
        case stopFailed = "postgres.stop-failed"
        case reloadFailed = "postgres.reload-failed"
        case promoteFailed = "postgres.promote-failed"
        case baseBackupFailed = "postgres.basebackup-failed"
        case rewindFailed = "postgres.rewind-failed"
        /// A program ran past its deadline and was killed.
        case timedOut = "postgres.timed-out"
        /// The server is not running where it was expected to.
        case notRunning = "postgres.not-running"
        /// libpq could not connect.
        case connectFailed = "postgres.connect-failed"
        /// The server rejected a query; `sqlState` says why.
        case queryFailed = "postgres.query-failed"
        /// The connection broke; open a new one.
        case connectionLost = "postgres.connection-lost"
        /// A result did not have the shape we expected.
        case badResult = "postgres.bad-result"
    }

    public var code: Code
    public var message: String
    /// Postgres's own error line, when there is one.
    public var postgresLine: String?
    /// The SQLSTATE of a query error.
    public var sqlState: String?
    /// The last lines of the program's output or the server log, for the operator.
    public var detail: String?

    public init(code: Code, message: String, postgresLine: String? = nil, sqlState: String? = nil, detail: String? = nil) {
        self.code = code; self.message = message; self.postgresLine = postgresLine
        self.sqlState = sqlState; self.detail = detail
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let postgresLine, !message.contains(postgresLine) { text += " [\(postgresLine)]" }
        return text
    }
}
