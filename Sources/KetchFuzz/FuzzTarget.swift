import KetchShared

/// What a target says about one input when it did not crash: nil means every check held.
public struct FuzzFinding: Error, Hashable, Sendable, CustomStringConvertible {
    public var check: String
    public var detail: String
    public init(_ check: String, _ detail: String) { self.check = check; self.detail = detail }
    public var description: String { "\(check): \(detail)" }
}

/// One entry point that untrusted bytes reach, with the checks that must hold for any input.
///
/// A target never throws for bad input: bad input is expected and must be refused cleanly. It
/// returns a `FuzzFinding` only when a property of the code broke (an error message over one
/// line, a decoded message that does not re-encode to itself, a password in an error, ...).
/// Crashes and hangs are caught by `FuzzRunner`, not here.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    /// Valid inputs to mutate (one line each).
    public let seeds: [[UInt8]]
    /// Inputs are this many mutated lines joined by `\n` at most (feeds and peer streams carry
    /// several lines whose effects add up).
    public let linesPerInput: Int
    /// Whether inputs over 1 MiB are made (they are slow to decode in a debug build).
    public let allowHuge: Bool
    /// Makes a fresh checker; called once per run so a checker may keep counters.
    public let makeCheck: @Sendable () -> (_ input: [UInt8], _ tally: inout FuzzTally) -> FuzzFinding?
    /// Makes input from its seed, for targets whose inputs are not NDJSON lines (YAML specs).
    public let generate: (@Sendable (UInt64) -> [UInt8])?

    public init(name: String, summary: String, seeds: [[UInt8]], linesPerInput: Int = 1, allowHuge: Bool = true,
                generate: (@Sendable (UInt64) -> [UInt8])? = nil,
                makeCheck: @escaping @Sendable () -> (_ input: [UInt8], _ tally: inout FuzzTally) -> FuzzFinding?) {
        self.name = name; self.summary = summary; self.seeds = seeds; self.linesPerInput = linesPerInput
        self.allowHuge = allowHuge; self.generate = generate; self.makeCheck = makeCheck
    }
}

/// How inputs fared, by outcome (`decoded`, or the error code that refused them), so a run
/// shows that inputs got past the JSON parser into the typed decoders.
public struct FuzzTally: Sendable {
    public private(set) var counts: [String: Int] = [:]
    public init() {}
    public mutating func count(_ outcome: String) { counts[outcome, default: 0] += 1 }
    /// `decoded=12 bad-json=3 ...`, sorted by name so runs compare line by line.
    public var summary: String {
        counts.keys.sorted().map { "\($0)=\(counts[$0]!)" }.joined(separator: " ")
    }
}

/// Splits an input into lines the way a reader sees them after framing (no newline inside).
func lines(of input: [UInt8]) -> [ArraySlice<UInt8>] {
    input.split(separator: 0x0A, omittingEmptySubsequences: true)
}
