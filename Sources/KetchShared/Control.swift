/// A request from a client (`ketchctl`, `ketch-tui`) on the api port.
public enum ControlRequest: Hashable, Codable, Sendable {
    /// `ketchctl get KIND [ID]`.
    case get(kind: ResourceKind, id: String?)
    /// Start the status feed on this connection: a snapshot, then deltas and heartbeats.
    case subscribe
    case createReplica(spec: ReplicaSpec)
    case deleteReplica(name: String)
    /// Planned switchover; `to` is a server name or ID, nil lets the node choose.
    case failover(name: String, to: String?)
    /// The libpq multi-host connection string for a database.
    case conninfo(name: String)
}

/// A typed, user-facing failure: a stable code and a message that says what to do.
public struct ErrorReply: Hashable, Codable, Sendable, Error, CustomStringConvertible {
    public var code: String
    public var message: String
    public init(code: String, message: String) { self.code = code; self.message = message }
    public var description: String { "\(code): \(message)" }
}

/// The answer to one `ControlRequest`.
public enum ControlReply: Hashable, Codable, Sendable {
    case resources(ResourceList)
    case ok(message: String)
    case conninfo(String)
    /// Progress of a long request (failover); the final reply follows.
    case progress(message: String)
    case error(ErrorReply)
}
