import KetchShared

/// Turns valid lines into nearly valid ones. Byte-level mutations (flips, cuts, splices) find
/// framing and UTF-8 problems; the structure-aware ones (swap a value for a huge number, nest
/// deeply, add unknown fields, change the type) get past the JSON parser into the typed
/// decoders, where the interesting failures are.
///
/// Deterministic: the same generator state gives the same output, so an input is replayed
/// from its seed and index alone.
public struct Mutator {
    /// Longest input the mutator builds on purpose (a bit over the 1 MiB line limit).
    public static let hugeLength = LineFramer.defaultMaxLineBytes + 4096

    public var rng: SplitMix64
    /// Which mutations may make inputs over 1 MiB (nesting 50,000 and 200,000 deep, strings
    /// over the line limit). `FuzzRunner` turns it on for a fixed 1 input in 1,024.
    public var allowHuge: Bool
    /// Whether medium-large values (64 KiB strings, nesting 5,000 deep) may be made. Off for
    /// most inputs: they cost the decoders 10-100 times a small input, and 1 input in 64
    /// covers them.
    public var allowLarge: Bool

    public init(seed: UInt64, allowHuge: Bool = true, allowLarge: Bool = true) {
        rng = SplitMix64(seed: seed)
        self.allowHuge = allowHuge
        self.allowLarge = allowLarge || allowHuge
    }

    /// Values that break typed decoders: out-of-range integers, non-integers, wrong JSON types.
    static let values: [String] = [
        "0", "-1", "1", "7", "65535", "65536", "-65536", "2147483648", "-2147483649",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "1e400", "-1e400", "1e-400", "1.5", "-0", "0.0",
        "1E2", "123456789012345678901234567890", "null", "true", "false", "[]", "{}", "[null]", "{\"\":null}",
        "\"\"", "\"inf\"", "\"-inf\"", "\"nan\"", "\"x\"", "\"0@\"", "\"@x\"", "\"18446744073709551616@x\"",
        "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"\\n\"", "\"é\"", "\"pg_x\"", "\"postgres\"",
        "\"mydb1\"", "\"replica\"", "\"server\"", "\"runtime\"", "\"epoch\"", "\"dbmgr\"", "\"alive\"",
        "\"open\"", "\"primary\"", "\"in-sync\"", "\"failover\"", "\"1@6fbacbae\"",
    ]

    /// Field names that the decoders know, so an injected field often lands where it is read.
    static let keys: [String] = [
        "v", "type", "id", "request", "reply", "feed", "envelope", "from", "message", "membership", "ketch",
        "ping", "ack", "pingRequest", "indirectAck", "sequence", "updates", "target", "get", "kind", "subscribe",
        "createReplica", "deleteReplica", "failover", "conninfo", "spec", "name", "to", "quorumGroupSize",
        "dbConfig", "port", "closedPort", "username", "password", "asyncMembers", "homeServer", "resources",
        "data", "attributes", "ok", "progress", "error", "code", "snapshot", "delta", "heartbeat", "change",
        "status", "members", "replicas", "events", "member", "memberRemoved", "replica", "replicaRemoved",
        "event", "epoch", "lease", "_0", "ballot", "server", "nonce", "mac", "role", "zz-unknown",
    ]

    static let types: [String] = ["hello", "auth", "welcome", "error", "envelope", "request", "reply", "feed", "", "HELLO", "x"]

    /// Bytes that matter to JSON, UTF-8 and the framer.
    static let interestingBytes: [UInt8] = [0x00, 0x0A, 0x0D, 0x20, 0x22, 0x2C, 0x3A, 0x5B, 0x5C, 0x5D, 0x7B, 0x7D,
                                           0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE0, 0xED, 0xF0, 0xF4, 0xF8, 0xFF]

    /// A mutated copy of one of `corpus`, with 1 to 4 mutations stacked.
    public mutating func mutate(_ corpus: [[UInt8]]) -> [UInt8] {
        var input = corpus[rng.next(below: corpus.count)]
        // Mostly one mutation, so most inputs stay close enough to valid to reach typed decoding.
        let roll = rng.next(below: 20)
        let rounds = roll < 12 ? 1 : roll < 17 ? 2 : 3 + rng.next(below: 2)
        for _ in 0..<rounds { input = mutateOnce(input, corpus: corpus) }
        return input
    }

    public mutating func mutateOnce(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var b = input
        if b.isEmpty { b = [0x7B] }
        let i = rng.next(below: b.count)
        switch rng.next(below: 20) {
        case 0:
            b[i] ^= 1 << UInt8(rng.next(below: 8))
        case 1:
            b[i] = Self.interestingBytes[rng.next(below: Self.interestingBytes.count)]
        case 2:
            b = Array(b[..<i])
        case 3:
            let n = 1 + rng.next(below: min(32, b.count - i))
            b.removeSubrange(i..<(i + n))
        case 4:
            let n = 1 + rng.next(below: min(64, b.count - i))
            b.insert(contentsOf: Array(b[i..<(i + n)]), at: i)
        case 5:
            let other = corpus[rng.next(below: corpus.count)]
            let j = rng.next(below: other.count + 1)
            b = Array(b[..<i]) + Array(other[j...])
        case 6, 7, 8:
            b = replaceValue(b, with: Array(Self.values[rng.next(below: Self.values.count)].utf8))
        case 9:
            b = replaceValue(b, with: Array(randomValue(depth: 0).utf8))
        case 10:
            b = injectField(b)
        case 11:
            b = replaceType(b)
        case 12:
            b = nest(b)
        case 13:
            b = replaceValue(b, with: longString())
        case 14:
            b = replaceString(b, with: badUTF8())
        case 15:
            b = dropField(b)
        case 16:
            b = duplicateKey(b)
        case 17:
            let bytes = (0..<(1 + rng.next(below: 16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            b.insert(contentsOf: bytes, at: i)
        case 18:
            // A number where a string was, or the other way round.
            b = replaceString(b, with: Array(Self.values[rng.next(below: 24)].utf8), keepQuotes: false)
        default:
            b = replaceValue(b, with: Array("\"\(Self.keys[rng.next(below: Self.keys.count)])\"".utf8))
        }
        return b
    }

    /// Start and end (exclusive) of each JSON value that follows a `:`, found in one pass that
    /// understands strings and brackets, so replacements keep the rest of the line intact.
    /// Linear on purpose: inputs nest 200,000 deep and are over 1 MiB long.
    func valueSpans(_ b: [UInt8]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var pending: [(start: Int, depth: Int)] = []
        var depth = 0
        var i = 0
        func close(at end: Int) {
            while let p = pending.last, p.depth >= depth {
                if end > p.start { spans.append(p.start..<end) }
                pending.removeLast()
            }
        }
        while i < b.count {
            switch b[i] {
            case 0x22:
                i = skipString(b, from: i)
                continue
            case 0x7B, 0x5B:
                depth += 1
            case 0x7D, 0x5D:
                close(at: i)
                depth -= 1
            case 0x2C:
                close(at: i)
            case 0x3A:
                var s = i + 1
                while s < b.count, b[s] == 0x20 { s += 1 }
                pending.append((s, depth))
            default:
                break
            }
            i += 1
        }
        for p in pending where b.count > p.start { spans.append(p.start..<b.count) }
        return spans
    }

    /// Index just past the string starting at `from` (a quote).
    func skipString(_ b: [UInt8], from: Int) -> Int {
        var i = from + 1
        while i < b.count {
            if b[i] == 0x5C { i += 2; continue }
            if b[i] == 0x22 { return i + 1 }
            i += 1
        }
        return b.count
    }

    /// Index just past the value starting at `from`, bracket depth aware.
    func skipValue(_ b: [UInt8], from: Int) -> Int {
        guard from < b.count else { return from }
        if b[from] == 0x22 { return skipString(b, from: from) }
        var depth = 0
        var i = from
        while i < b.count {
            switch b[i] {
            case 0x22: i = skipString(b, from: i); continue
            case 0x7B, 0x5B: depth += 1
            case 0x7D, 0x5D:
                if depth == 0 { return i }
                depth -= 1
                if depth == 0 { return i + 1 }
            case 0x2C: if depth == 0 { return i }
            default: break
            }
            i += 1
        }
        return i
    }

    mutating func replaceValue(_ b: [UInt8], with value: [UInt8]) -> [UInt8] {
        let spans = valueSpans(b)
        var out = b
        guard !spans.isEmpty else { out += value; return out }
        // In place: no temporary copies of the two halves of a 1 MiB line.
        out.replaceSubrange(spans[rng.next(below: spans.count)], with: value)
        return out
    }

    /// Replaces the content of a string value (`keepQuotes`) or the whole quoted string.
    mutating func replaceString(_ b: [UInt8], with content: [UInt8], keepQuotes: Bool = true) -> [UInt8] {
        let spans = valueSpans(b).filter { b[$0.lowerBound] == 0x22 }
        guard let s = spans.isEmpty ? nil : spans[rng.next(below: spans.count)] else { return b + content }
        if keepQuotes {
            return Array(b[..<(s.lowerBound + 1)]) + content + Array(b[(s.upperBound - 1)...])
        }
        return Array(b[..<s.lowerBound]) + content + Array(b[s.upperBound...])
    }

    mutating func injectField(_ b: [UInt8]) -> [UInt8] {
        let braces = b.indices.filter { b[$0] == 0x7B }
        guard !braces.isEmpty else { return b }
        let at = braces[rng.next(below: braces.count)] + 1
        let key = rng.next(below: 4) == 0 ? "k\(rng.next(below: 1000))" : Self.keys[rng.next(below: Self.keys.count)]
        let field = "\"\(key)\":\(randomValue(depth: 0))" + (at < b.count && b[at] != 0x7D ? "," : "")
        return Array(b[..<at]) + Array(field.utf8) + Array(b[at...])
    }

    mutating func dropField(_ b: [UInt8]) -> [UInt8] {
        let spans = valueSpans(b)
        guard !spans.isEmpty else { return b }
        let s = spans[rng.next(below: spans.count)]
        // Walk back over the key and its quotes.
        var start = s.lowerBound - 1
        while start > 0, b[start] != 0x2C, b[start] != 0x7B { start -= 1 }
        var end = s.upperBound
        if b[start] == 0x7B { start += 1; if end < b.count, b[end] == 0x2C { end += 1 } }
        guard start < end else { return b }
        return Array(b[..<start]) + Array(b[end...])
    }

    mutating func duplicateKey(_ b: [UInt8]) -> [UInt8] {
        let spans = valueSpans(b)
        guard !spans.isEmpty else { return b }
        let s = spans[rng.next(below: spans.count)]
        var start = s.lowerBound - 1
        while start > 0, b[start] != 0x2C, b[start] != 0x7B { start -= 1 }
        let pair = Array(b[(start + 1)..<s.upperBound])
        return Array(b[..<s.upperBound]) + [0x2C] + pair + Array(b[s.upperBound...])
    }

    mutating func replaceType(_ b: [UInt8]) -> [UInt8] {
        let marker = Array("\"type\":".utf8)
        guard let at = b.firstRange(of: marker) else { return b }
        let end = skipValue(b, from: at.upperBound)
        let type = Self.types[rng.next(below: Self.types.count)]
        return Array(b[..<at.upperBound]) + Array("\"\(type)\"".utf8) + Array(b[end...])
    }

    /// Deep nesting, from a little past typical depth to far past any decoder's limit.
    mutating func nest(_ b: [UInt8]) -> [UInt8] {
        let depths = [8, 64, 511, 512, 513, 1000, 5000, 50_000, 200_000]
        let depth = depths[rng.next(below: allowHuge ? depths.count : allowLarge ? 7 : 6)]
        return nest(b, depth: depth)
    }

    mutating func nest(_ b: [UInt8], depth: Int) -> [UInt8] {
        let (open, close): (StaticString, StaticString) = switch rng.next(below: 3) {
        case 0: ("[", "]")
        case 1: ("{\"a\":", "}")
        default: ("{\"_0\":[", "]}")
        }
        let balanced = rng.next(below: 4) != 0
        return replaceValue(b, with: Self.nesting(open, close, depth: depth, balanced: balanced))
    }

    /// `open` × depth, `1`, and `close` × depth when balanced, written straight into one buffer
    /// (building it through `String(repeating:)` was most of the time of a 200,000-deep input).
    static func nesting(_ open: StaticString, _ close: StaticString, depth: Int, balanced: Bool) -> [UInt8] {
        let o = open.utf8CodeUnitCount, c = close.utf8CodeUnitCount
        let total = o * depth + 1 + (balanced ? c * depth : 0)
        return [UInt8](unsafeUninitializedCapacity: total) { buf, count in
            let base = buf.baseAddress!
            var at = 0
            for _ in 0..<depth { (base + at).update(from: open.utf8Start, count: o); at += o }
            base[at] = UInt8(ascii: "1"); at += 1
            if balanced { for _ in 0..<depth { (base + at).update(from: close.utf8Start, count: c); at += c } }
            count = at
        }
    }

    mutating func longString() -> [UInt8] {
        let lengths = allowHuge ? [300, 4096, 65_536, Self.hugeLength] : allowLarge ? [300, 4096, 65_536] : [300, 4096]
        let n = lengths[rng.next(below: lengths.count)]
        return Self.longStrings[rng.next(below: 3)][n]!
    }

    /// The long string values, made once: a quoted run of `a`, `é` or `\\n` just over each length.
    static let longStrings: [[Int: [UInt8]]] = [Array("a".utf8), Array("é".utf8), Array("\\n".utf8)].map { unit in
        var byLength: [Int: [UInt8]] = [:]
        for n in [300, 4096, 65_536, hugeLength] {
            var out: [UInt8] = [0x22]
            out.reserveCapacity(n + 2)
            while out.count < n { out += unit }
            out.append(0x22)
            byLength[n] = out
        }
        return byLength
    }

    /// One mutation that makes the input over 1 MiB or nests it 50,000 or 200,000 deep: the
    /// hostile inputs every run keeps (1 in 1,024 inputs gets one).
    public mutating func hugeMutation(_ input: [UInt8]) -> [UInt8] {
        var b = input
        if b.isEmpty { b = [0x7B] }
        switch rng.next(below: 3) {
        case 0: return nest(b, depth: rng.next(below: 2) == 0 ? 50_000 : 200_000)
        case 1: return replaceValue(b, with: Self.longStrings[rng.next(below: 3)][Self.hugeLength]!)
        default:
            // A string over the line limit with no closing quote, or bytes to the end of the line.
            var out = b
            out += Self.longStrings[rng.next(below: 3)][Self.hugeLength]!.dropLast()
            return out
        }
    }

    /// Invalid UTF-8: lone continuation bytes, overlong forms, surrogates, truncated sequences.
    mutating func badUTF8() -> [UInt8] {
        let samples: [[UInt8]] = [[0x80], [0xC0, 0x80], [0xC3], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80],
                                 [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFF], [0xEF, 0xBB, 0xBF]]
        return samples[rng.next(below: samples.count)]
    }

    /// A small random JSON value (text).
    mutating func randomValue(depth: Int) -> String {
        switch rng.next(below: depth > 2 ? 3 : 6) {
        case 0: return Self.values[rng.next(below: Self.values.count)]
        case 1: return "\"\(Self.keys[rng.next(below: Self.keys.count)])\""
        case 2: return String(Int64(bitPattern: rng.next()))
        case 3: return "[" + (0..<rng.next(below: 3)).map { _ in randomValue(depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            let fields = (0..<rng.next(below: 3)).map { _ in "\"\(Self.keys[rng.next(below: Self.keys.count)])\":\(randomValue(depth: depth + 1))" }
            return "{" + fields.joined(separator: ",") + "}"
        }
    }
}
