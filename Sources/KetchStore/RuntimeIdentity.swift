import KetchShared

/// Who this server is: chosen once when a data directory is first used and kept in `ketch.db`
/// so that a restarted node comes back with the same `ServerID` (issue 2, item 3).
public struct RuntimeIdentity: Codable, Sendable, Equatable {
    public var serverID: ServerID
    public var name: String
    public var memberEndpoint: Endpoint
    public var apiEndpoint: Endpoint
    public var createdAtUnixMs: Int64

    public init(serverID: ServerID, name: String, memberEndpoint: Endpoint, apiEndpoint: Endpoint, createdAtUnixMs: Int64) {
        self.serverID = serverID; self.name = name
        self.memberEndpoint = memberEndpoint; self.apiEndpoint = apiEndpoint
        self.createdAtUnixMs = createdAtUnixMs
    }
}
