import Foundation

/// What happened to one client operation. `indeterminate` is the honest answer whenever the
/// client cannot know: a COMMIT that came back with a warning (cancelled while waiting for the
/// synchronous standby — committed locally, maybe not replicated) or a connection lost or timed
/// out while the COMMIT was in flight. The checker never counts it as acknowledged.
public enum Outcome: String, Codable, Sendable {
    case ok, failed, indeterminate
}

public enum OpKind: String, Codable, Sendable {
    case write, read
}

/// One line of the history (NDJSON). Times are the host's CLOCK_BOOTTIME in nanoseconds, the
/// clock every network namespace shares and the nodes' service journals use.
public struct HistoryOp: Codable, Sendable, Equatable {
    public var client: Int
    public var kind: OpKind
    /// The unique value a write appended; nil for reads.
    public var value: Int64?
    public var start: Int64
    public var end: Int64
    public var outcome: Outcome
    /// Address of the server that answered (inet_server_addr of the session), when connected.
    public var server: String?
    /// Values a successful read returned.
    public var values: [Int64]?
    public var error: String?

    public init(client: Int, kind: OpKind, value: Int64? = nil, start: Int64, end: Int64, outcome: Outcome,
                server: String? = nil, values: [Int64]? = nil, error: String? = nil) {
        self.client = client; self.kind = kind; self.value = value; self.start = start; self.end = end
        self.outcome = outcome; self.server = server; self.values = values; self.error = error
    }
}

/// A fault the nemesis injected, and when it was healed (times as in `HistoryOp`).
public struct FaultEvent: Codable, Sendable, Equatable {
    public var name: String
    public var start: Int64
    public var healed: Int64?
    public init(name: String, start: Int64, healed: Int64?) { self.name = name; self.start = start; self.healed = healed }
}

public struct HistoryError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

public enum HistoryFile {
    /// Reads an NDJSON file of `T`, naming the line of the first one that does not parse.
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: path) else { throw HistoryError("cannot read \(path)") }
        let decoder = JSONDecoder()
        var out: [T] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            do { out.append(try decoder.decode(T.self, from: Data(line))) } catch {
                throw HistoryError("\(path) line \(i + 1) is not a valid \(T.self): \(error)")
            }
        }
        return out
    }
}
