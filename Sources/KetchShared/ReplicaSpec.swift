/// What a user asks for in `ketchctl create replica -f spec.yaml` — the seed's attributes.
/// The password is a secret: it is stored and handed to Postgres, never shown.
public struct ReplicaSpec: Hashable, Codable, Sendable {
    public struct DBConfig: Hashable, Codable, Sendable {
        public var username: String
        public var password: String
        public var port: Int
        public var closedPort: Int
        public init(username: String, password: String, port: Int, closedPort: Int) {
            self.username = username; self.password = password; self.port = port; self.closedPort = closedPort
        }
    }
    public var name: String
    public var quorumGroupSize: Int
    public var dbConfig: DBConfig
    /// How many of the quorum group's non-data-quorum members stream asynchronously instead of
    /// acting as pure witnesses. Defaults to all of them (a witness holds no data).
    public var asyncMembers: Int?
    /// Server name preferred as primary (the original project's home server).
    public var homeServer: String?

    public init(name: String, quorumGroupSize: Int, dbConfig: DBConfig, asyncMembers: Int? = nil, homeServer: String? = nil) {
        self.name = name; self.quorumGroupSize = quorumGroupSize; self.dbConfig = dbConfig
        self.asyncMembers = asyncMembers; self.homeServer = homeServer
    }

    /// Majority of the quorum group.
    public var dataQuorumSize: Int { quorumGroupSize / 2 + 1 }
}

/// Interpolating a spec into a log line or an error must never show the password.
extension ReplicaSpec.DBConfig: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "DBConfig(username: \(username), password: <redacted>, port: \(port), closedPort: \(closedPort))" }
    public var debugDescription: String { description }
}
