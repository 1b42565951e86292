/// The kinds `ketchctl get` knows, named as in the seed.
public enum ResourceKind: String, Codable, Sendable, CaseIterable {
    case runtime, server, epoch, replica, dbmgr
}

/// One entry of the seed's `data:` list: `attributes`, `id`, `type`.
public struct Resource: Hashable, Codable, Sendable {
    public var attributes: JSONValue
    public var id: String
    public var type: ResourceKind
    public init(attributes: JSONValue, id: String, type: ResourceKind) {
        self.attributes = attributes; self.id = id; self.type = type
    }
}

/// The seed's document shape: `data: [Resource]`.
public struct ResourceList: Hashable, Codable, Sendable {
    public var data: [Resource]
    public init(data: [Resource]) { self.data = data }
}
