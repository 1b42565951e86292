/// A typed failure on either wire: a stable `code` that programs match on, and a `message` that
/// says what was wrong and what is accepted, so a human reading one line knows what to fix.
///
/// The same value travels as an `error` line (see `WireMessage.error`), so a misbehaving client
/// learns exactly why it was refused. Messages never contain the cluster secret.
public struct WireError: Error, Hashable, Codable, Sendable, CustomStringConvertible {
    /// Stable, kebab-case identifier of a failure. A struct rather than an enum so that a newer
    /// node's codes still decode on an older client.
    public struct Code: RawRepresentable, Hashable, Codable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
        public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(rawValue) }
        public var description: String { rawValue }

        /// A line exceeded the per-line limit (1 MiB); the rest of it up to the next newline is skipped.
        public static let lineTooLong: Code = "line-too-long"
        public static let badUTF8: Code = "bad-utf8"
        public static let badJSON: Code = "bad-json"
        public static let unknownType: Code = "unknown-type"
        public static let badVersion: Code = "bad-version"
        /// The line is JSON of a known type, but a field is missing or has the wrong type.
        public static let badMessage: Code = "bad-message"
        /// A message arrived where the protocol does not allow it (e.g. a `welcome` sent to a server).
        public static let unexpectedMessage: Code = "unexpected-message"
        public static let notAuthenticated: Code = "not-authenticated"
        public static let authFailed: Code = "auth-failed"
        /// The connection sent too many bad lines and is being closed.
        public static let tooManyErrors: Code = "too-many-errors"
        /// The peer could not be reached (refused, timed out, name did not resolve).
        public static let unreachable: Code = "unreachable"
        public static let timeout: Code = "timeout"
        /// The connection closed before the answer arrived.
        public static let closed: Code = "closed"
        /// The other side answered with something this side cannot use.
        public static let badReply: Code = "bad-reply"
        /// The cluster secret file is missing, unreadable, empty or too short.
        public static let badSecret: Code = "bad-secret"
        /// The server is at its limit (requests in flight); retry later.
        public static let busy: Code = "busy"
    }

    public var code: Code
    public var message: String
    /// The request this error answers, when the line that caused it carried a readable `id`.
    public var requestID: UInt64?

    public init(_ code: Code, _ message: String, requestID: UInt64? = nil) {
        self.code = code
        self.message = message
        self.requestID = requestID
    }

    public var description: String { "\(code): \(message)" }
}
