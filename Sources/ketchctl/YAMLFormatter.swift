import KetchShared

/// Prints resources as YAML in the seed's exact shape: `data:` then a block list whose items
/// sit at the same indent as the key (`- attributes:`), mapping keys sorted, two-space indents.
///
/// Our own emitter rather than a library's, because the output is an interface people diff
/// and grep: every byte is decided here and pinned by tests.
enum YAMLFormatter {
    static func format(_ list: ResourceList) -> String {
        let items: [JSONValue] = list.data.map { resource in
            .object([("attributes", resource.attributes), ("id", .string(resource.id)), ("type", .string(resource.type.rawValue))])
        }
        return format(.object([("data", .array(items))]))
    }

    static func format(_ value: JSONValue) -> String {
        var lines: [String] = []
        emit(value, indent: 0, into: &lines)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func pad(_ n: Int) -> String { String(repeating: " ", count: n) }

    private static func emit(_ value: JSONValue, indent: Int, into lines: inout [String]) {
        switch value {
        case .object(let pairs) where !pairs.isEmpty:
            for (key, child) in pairs.sorted(by: { $0.0 < $1.0 }) {
                let k = pad(indent) + scalar(.string(key)) + ":"
                switch child {
                case .object(let p) where !p.isEmpty:
                    lines.append(k)
                    emit(child, indent: indent + 2, into: &lines)
                case .array(let a) where !a.isEmpty:
                    lines.append(k)
                    emit(child, indent: indent, into: &lines)
                default:
                    lines.append(k + " " + scalar(child))
                }
            }
        case .array(let items) where !items.isEmpty:
            for item in items {
                switch item {
                case .object(let p) where !p.isEmpty:
                    var sub: [String] = []
                    emit(item, indent: indent + 2, into: &sub)
                    sub[0] = pad(indent) + "- " + sub[0].dropFirst(indent + 2)
                    lines += sub
                case .array(let a) where !a.isEmpty:
                    lines.append(pad(indent) + "-")
                    emit(item, indent: indent + 2, into: &lines)
                default:
                    lines.append(pad(indent) + "- " + scalar(item))
                }
            }
        default:
            lines.append(pad(indent) + scalar(value))
        }
    }

    /// One scalar, quoted only when a YAML reader would otherwise misread it.
    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return ".nan" }
            if d.isInfinite { return d < 0 ? "-.inf" : ".inf" }
            return String(d)
        case .string(let s): return needsQuotes(s) ? quoted(s) : s
        case .array: return "[]"
        case .object: return "{}"
        }
    }

    private static let reserved: Set<String> = [
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf", ".nan",
    ]

    static func needsQuotes(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last else { return true }
        if first == " " || last == " " || last == ":" { return true }
        if "-?:,[]{}#&*!|>'\"%@`".contains(first) { return true }
        if s.contains(": ") || s.contains(" #") { return true }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return true }
        if reserved.contains(s.lowercased()) { return true }
        if Int(s) != nil || Double(s) != nil { return true }
        if s.hasPrefix("0x") || s.hasPrefix("0o") || s.hasPrefix("+") { return true }
        // Dates (YAML 1.1 timestamps) like 2026-11-27.
        let digits = s.utf8.prefix(10).map { $0 }
        if digits.count == 10, digits[4] == UInt8(ascii: "-"), digits[7] == UInt8(ascii: "-"),
           digits.enumerated().allSatisfy({ i, b in i == 4 || i == 7 || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }) {
            return true
        }
        return false
    }

    private static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
