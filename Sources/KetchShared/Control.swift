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

/// Hand-written so an unlabeled payload sits directly under its case name
/// (`{"resources":{"data":[...]}}`) instead of under Swift's synthesized `"_0"` key.
extension ControlReply {
    private enum CodingKeys: String, CodingKey, CaseIterable {
        case resources, ok, conninfo, progress, error
    }
    private enum MessageKeys: String, CodingKey { case message }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription:
                "expected exactly one of \(CodingKeys.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        switch key {
        case .resources: self = .resources(try c.decode(ResourceList.self, forKey: key))
        case .conninfo: self = .conninfo(try c.decode(String.self, forKey: key))
        case .error: self = .error(try c.decode(ErrorReply.self, forKey: key))
        case .ok: self = .ok(message: try c.nestedContainer(keyedBy: MessageKeys.self, forKey: key).decode(String.self, forKey: .message))
        case .progress: self = .progress(message: try c.nestedContainer(keyedBy: MessageKeys.self, forKey: key).decode(String.self, forKey: .message))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .resources(let list): try c.encode(list, forKey: .resources)
        case .conninfo(let s): try c.encode(s, forKey: .conninfo)
        case .error(let e): try c.encode(e, forKey: .error)
        case .ok(let message):
            var m = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .ok)
            try m.encode(message, forKey: .message)
        case .progress(let message):
            var m = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .progress)
            try m.encode(message, forKey: .message)
        }
    }
}
