/// Why `ketch.db` could not be opened, read or written.
///
/// `code` is stable (tests and the node match on it); `message` names the file and says what
/// to do about it, so the node can print it as its one-line error.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The data directory does not exist.
        case directoryMissing = "store.directory-missing"
        /// The data directory path names something that is not a directory.
        case notADirectory = "store.not-a-directory"
        /// The data directory cannot be read or written by this process.
        case directoryNotAccessible = "store.directory-not-accessible"
        /// SQLite could not open or create the file.
        case cannotOpen = "store.cannot-open"
        /// The file is not a SQLite database or fails its integrity check.
        case corrupt = "store.corrupt"
        /// The file was written by a newer `ketch-node` with a schema this one does not know.
        case newerSchema = "store.newer-schema"
        /// The file or its directory is read-only.
        case readOnly = "store.read-only"
        /// The disk is full.
        case diskFull = "store.disk-full"
        /// Another process holds a lock on the file for longer than the busy timeout.
        case busy = "store.busy"
        /// A record was rejected (empty kind or key, out-of-range counter).
        case invalidRecord = "store.invalid-record"
        /// A stored value could not be decoded.
        case badValue = "store.bad-value"
        /// The store was closed and can no longer be used.
        case closed = "store.closed"
        /// Any other SQLite failure; the message carries SQLite's own text.
        case io = "store.io"
    }

    public var code: Code
    public var message: String
    /// SQLite's extended result code, when the error came from SQLite.
    public var sqliteCode: Int32?

    public init(code: Code, message: String, sqliteCode: Int32? = nil) {
        self.code = code; self.message = message; self.sqliteCode = sqliteCode
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
