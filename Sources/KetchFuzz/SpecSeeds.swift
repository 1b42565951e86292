import KetchShared

/// Replica spec documents (`ketchctl create replica -f`) and a line-aware YAML mutator.
///
/// The password in every seed is `SpecSeeds.password`, so a target can check that no error
/// message ever shows it.
public enum SpecSeeds {
    public static let password = "Zq7-fuzz-pw-9"

    public static let documents: [String] = [
        """
        data:
        - attributes:
            name: mydb1
            quorumGroupSize: 3
            dbConfig:
              username: myuser
              password: \(password)
              port: 5432
              closedPort: 5433
          type: replica
        """,
        """
        data:
          - type: replica
            attributes: {name: orders, quorumGroupSize: 5, asyncMembers: 1, homeServer: server2, dbConfig: {username: app, password: "\(password)", port: 6432, closedPort: 6433}}
        """,
        """
        # two databases
        data:
        - attributes:
            name: a_1
            quorumGroupSize: 1
            dbConfig: {username: u, password: '\(password)', port: 1, closedPort: 65535}
          type: replica
        - attributes:
            name: b
            quorumGroupSize: 7
            asyncMembers: 0
            dbConfig:
              username: "user name"
              password: \(password)
              port: 15432
              closedPort: 15433
          type: replica
        """,
        """
        {"data": [{"type": "replica", "attributes": {"name": "j", "quorumGroupSize": 3, "dbConfig": {"username": "u", "password": "\(password)", "port": 5432, "closedPort": 5433}}}]}
        """,
    ]

    /// Scalars that stress YAML's typing rules and the parser's integer handling.
    static let scalars: [String] = [
        "~", "null", "Null", "", "''", "\"\"", "true", "yes", "on", "0", "-0", "+1", "007", "0x1F", "0o17", "0b101",
        "1_000", "1:30", "190:20:30", "999999999:99:99", "1:2:3:4:5:6:7:8:9:10:11:12", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "99999999999999999999999", "0x7fffffffffffffffff", "1e3",
        "1.5", ".inf", "-.inf", ".nan", "!!int 5432", "!!int 0x10", "!!int 9:9:9", "!!str 5432", "!!float 1",
        "!!null", "!!binary aGVsbG8=", "!!bool yes", "!custom x", "!!map {}", "!!seq []", "&a 5432", "*a", "*nope",
        "[]", "{}", "[1, 2]", "{a: 1}", "|\n  block", ">\n  folded", "\"\\u0000\"", "\"\\x7f\"", "\"\\ud800\"",
        "\"a\\nb\"", "pg_admin", "postgres", "MYDB", "é", "\u{FEFF}x", "\t5432", "5432 # comment", "'it''s'",
        "? complex", "- item", "%TAG", "---", "...", "@reserved", "`backtick",
    ]

    /// Whole documents that attack the parser itself: deep nesting, alias expansion, odd streams.
    static func hostile(_ rng: inout SplitMix64) -> String {
        switch rng.next(below: 9) {
        case 0:
            let n = [100, 1000, 10_000, 100_000][rng.next(below: 4)]
            return "data: " + String(repeating: "[", count: n) + String(repeating: "]", count: rng.next(below: 2) == 0 ? n : 0)
        case 1:
            let n = [100, 1000, 10_000, 100_000][rng.next(below: 4)]
            return "data: " + String(repeating: "{a: ", count: n) + "1" + String(repeating: "}", count: n)
        case 2:
            // Billion laughs: each level refers to the one before ten times.
            var doc = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            let levels = 3 + rng.next(below: 8)
            for i in 1...levels { doc += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
            return doc + "data: *a\(levels)\n"
        case 3:
            // Block nesting grows by one space a level, so n levels take n²/2 bytes: 1,400 is
            // just under the 1 MiB limit, 2,000 just over (50,000 once made a 1.2 GB input).
            let n = [10, 1000, 1400, 2000][rng.next(below: 4)]
            var doc = "data:\n"
            var indent = ""
            for _ in 0..<n { doc += indent + "- \n"; indent += " " }
            return doc
        case 4:
            return documents[0] + "\n---\n" + documents[1]
        case 5:
            return "data:\n- attributes: &x\n    name: mydb1\n    <<: *x\n  type: replica\n"
        case 6:
            return String(repeating: "a", count: [1000, 1 << 20][rng.next(below: 2)]) + ": 1"
        case 7:
            return "%YAML 1.1\n%TAG ! tag:example.com,2000:\n--- !shape\n" + documents[0]
        default:
            return "data: !!python/object:os.system [ls]\n"
        }
    }
}

/// Mutates YAML text line by line (values, keys, indentation), plus byte-level noise.
public struct YAMLMutator {
    public var rng: SplitMix64
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    public mutating func make() -> [UInt8] {
        if rng.next(below: 40) == 0 { return Array(SpecSeeds.hostile(&rng).utf8) }
        var text = SpecSeeds.documents[rng.next(below: SpecSeeds.documents.count)]
        for _ in 0..<(1 + rng.next(below: 3)) { text = mutateLines(text) }
        var bytes = Array(text.utf8)
        if rng.next(below: 4) == 0 {
            var m = Mutator(seed: rng.next(), allowHuge: false)
            bytes = m.mutateOnce(bytes, corpus: SpecSeeds.documents.map { Array($0.utf8) })
        }
        return bytes
    }

    mutating func mutateLines(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard !lines.isEmpty else { return text }
        let i = rng.next(below: lines.count)
        let line = lines[i]
        switch rng.next(below: 8) {
        case 0, 1, 2:
            // Replace the value after the first ": ".
            if let r = line.range(of: ": ") {
                lines[i] = String(line[..<r.upperBound]) + SpecSeeds.scalars[rng.next(below: SpecSeeds.scalars.count)]
            } else {
                lines[i] = line + " " + SpecSeeds.scalars[rng.next(below: SpecSeeds.scalars.count)]
            }
        case 3:
            lines.insert(line, at: i)
        case 4:
            lines.remove(at: i)
        case 5:
            let spaces = String(repeating: " ", count: rng.next(below: 6))
            lines[i] = rng.next(below: 2) == 0 ? spaces + line : String(line.drop { $0 == " " })
        case 6:
            let keys = ["name", "quorumGroupSize", "dbConfig", "username", "password", "port", "closedPort",
                        "asyncMembers", "homeServer", "type", "attributes", "data", "extra", "Name", "<<", "? x"]
            let indent = String(line.prefix { $0 == " " })
            lines.insert(indent + keys[rng.next(below: keys.count)] + ": " + SpecSeeds.scalars[rng.next(below: SpecSeeds.scalars.count)], at: i)
        default:
            if let r = line.range(of: ": ") {
                let longs = [String(repeating: "x", count: 300), String(repeating: "é", count: 70), String(repeating: "9", count: 400)]
                lines[i] = String(line[..<r.upperBound]) + longs[rng.next(below: longs.count)]
            }
        }
        return lines.joined(separator: "\n")
    }
}
