import Foundation

/// Encodes and decodes `WireMessage` lines. Pure functions, no I/O: the NIO layer hands it the
/// lines `LineFramer` produced.
///
/// Output is deterministic (sorted keys, unescaped slashes) so examples in docs/wire.md can be
/// generated and compared byte for byte. Decoding checks, in order: UTF-8, JSON object,
/// `"v"`, `"type"` (against the port's accepted types), then the fields of that type; each
/// failure is a `WireError` with its own code.
public enum WireCodec {
    /// The only wire version this build speaks.
    public static let version = 1

    /// Non-finite doubles (a lag that could not be computed) travel as strings instead of
    /// failing the whole line.
    private static let floatStrategy = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// Longest decoder detail echoed back in an error message; the rest is cut.
    private static let maxDetailCharacters = 300

    /// Deepest nesting of arrays and objects a line may have; Ketch's own lines nest fewer than
    /// ten levels. Checked before Foundation's parser sees the line: that parser stops at 512
    /// levels and, in Swift 6.3, crashes when a line ends exactly where it hits that limit
    /// (`{"a":` and 512 `[`), which would let anyone who can connect stop a node.
    public static let maxNestingDepth = 64

    /// One line, terminated by `\n`.
    public static func encode(_ message: WireMessage) throws(WireError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: floatStrategy.positiveInfinity, negativeInfinity: floatStrategy.negativeInfinity, nan: floatStrategy.nan)
        do {
            var bytes = [UInt8](try encoder.encode(message))
            bytes.append(0x0A)
            return bytes
        } catch {
            throw WireError(.badMessage, "cannot encode a '\(message.type)' line: \(describe(error))")
        }
    }

    /// `encode` as a `String` without the trailing newline (for docs, logs and tests).
    public static func encodeString(_ message: WireMessage) throws(WireError) -> String {
        var bytes = try encode(message)
        bytes.removeLast()
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes one line (without its newline) received on `port`.
    public static func decode<C: Collection>(_ line: C, port: WirePort) throws(WireError) -> WireMessage where C.Element == UInt8 {
        let bytes = Array(line)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw WireError(.badUTF8, "the line is not valid UTF-8; send one JSON object per line, UTF-8 encoded")
        }
        if nestsDeeper(than: maxNestingDepth, bytes) {
            throw WireError(.badJSON, "the line nests arrays or objects more than \(maxNestingDepth) levels deep; send one flat JSON object per line, like {\"v\":1,\"type\":\"request\",...}")
        }
        let data = Data(bytes)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: floatStrategy.positiveInfinity, negativeInfinity: floatStrategy.negativeInfinity, nan: floatStrategy.nan)

        // Fast path: one parse for a well-formed line. Only a failure pays for the second,
        // lenient parse that classifies what was wrong.
        if let message = try? decoder.decode(WireMessage.self, from: data), port.acceptedTypes.contains(message.type) {
            return message
        }
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: data)
        } catch {
            throw WireError(.badJSON, "the line is not a JSON object; send one JSON object per line, like {\"v\":1,\"type\":\"request\",...}")
        }
        guard let v = header.v else {
            throw WireError(.badVersion, "the line has no \"v\" field; this node speaks wire version \(version) (add \"v\":\(version))", requestID: header.id)
        }
        guard v == version else {
            throw WireError(.badVersion, "wire version \(v) is not supported; this node speaks version \(version)", requestID: header.id)
        }
        let accepted = port.acceptedTypes
        guard let type = header.type else {
            throw WireError(.unknownType, "the line has no string \"type\" field; the \(port.rawValue) port accepts: \(accepted.joined(separator: ", "))", requestID: header.id)
        }
        guard accepted.contains(type) else {
            throw WireError(.unknownType, "unknown line type '\(clip(type, 40))' on the \(port.rawValue) port; accepted: \(accepted.joined(separator: ", "))", requestID: header.id)
        }
        do {
            return try decoder.decode(WireMessage.self, from: data)
        } catch {
            throw WireError(.badMessage, "bad '\(type)' line: \(describe(error))", requestID: header.id)
        }
    }

    /// The version, type and id of a line, read leniently so that each can be reported on its own.
    private struct Header: Decodable {
        var v: Int?
        var type: String?
        var id: UInt64?
        enum CodingKeys: String, CodingKey { case v, type, id }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            v = try? c.decode(Int.self, forKey: .v)
            type = try? c.decode(String.self, forKey: .type)
            id = try? c.decode(UInt64.self, forKey: .id)
        }
    }

    /// One line describing a decoding error by the field path, e.g.
    /// `missing field request.createReplica.spec.name`.
    public static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let parts = keys.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
            let joined = parts.reduce("") { acc, part in
                part.hasPrefix("[") || acc.isEmpty ? acc + part : acc + "." + part
            }
            return joined.isEmpty ? "(top level)" : joined
        }
        let text: String
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            text = "missing field \(path(ctx.codingPath + [key]))"
        case DecodingError.typeMismatch(let type, let ctx):
            text = "field \(path(ctx.codingPath)) has the wrong type (expected \(type))"
        case DecodingError.valueNotFound(let type, let ctx):
            text = "field \(path(ctx.codingPath)) is null (expected \(type))"
        case DecodingError.dataCorrupted(let ctx):
            text = "field \(path(ctx.codingPath)): \(ctx.debugDescription)"
        case EncodingError.invalidValue(_, let ctx):
            text = "field \(path(ctx.codingPath)): \(ctx.debugDescription)"
        default:
            text = String(describing: error)
        }
        return clip(text, maxDetailCharacters)
    }

    /// One pass over the bytes, skipping strings, so that nesting is measured without parsing.
    static func nestsDeeper(than limit: Int, _ bytes: [UInt8]) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                if depth > limit { return true }
            case 0x5D, 0x7D: depth -= 1
            default: break
            }
        }
        return false
    }

    /// Keeps error messages on one short line: any control character the sender put in a value
    /// (a `\r` would rewrite the user's terminal line) becomes a space.
    static func clip(_ s: String, _ limit: Int) -> String {
        let oneLine = String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
        return oneLine.count <= limit ? oneLine : String(oneLine.prefix(limit)) + "…"
    }
}
