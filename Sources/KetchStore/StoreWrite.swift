import Foundation

/// One change in a batch handed to `KetchStore.write(_:)`.
///
/// The node turns the core's `persist` output into one batch so that either all of it is
/// durable or none of it is, before any message that depends on it is sent.
public enum StoreWrite: Sendable, Equatable {
    case put(kind: String, key: String, value: Data)
    case delete(kind: String, key: String)
}

/// A durable record: `kind` groups records (e.g. `replica`, `epoch`, `acceptor`), `key` names one.
public struct StoreRecord: Sendable, Equatable {
    public var key: String
    public var value: Data
    public init(key: String, value: Data) { self.key = key; self.value = value }
}
