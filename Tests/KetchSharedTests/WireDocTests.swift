import Foundation
import KetchShared
import Testing

/// docs/wire.md shows a literal line for every message. These tests keep it honest: every
/// example line must be exactly what the encoder produces for the message it decodes to, and
/// every kind of message must have an example.
@Suite struct WireDocTests {
    static let docURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/wire.md")

    /// Lines of the doc's code blocks that hold a JSON object.
    static func exampleLines() throws -> [String] {
        let text = try String(contentsOf: docURL, encoding: .utf8)
        var inBlock = false
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock.toggle(); continue }
            if inBlock && line.hasPrefix("{") { lines.append(String(line)) }
        }
        return lines
    }

    static func decodeEither(_ line: String) throws -> WireMessage {
        do {
            return try WireCodec.decode(Array(line.utf8), port: .api)
        } catch {
            return try WireCodec.decode(Array(line.utf8), port: .member)
        }
    }

    /// What distinguishes one kind of message from another: the line type and the enum cases inside.
    static func kind(_ message: WireMessage) -> String {
        func caseName(_ value: Any) -> String {
            let mirror = Mirror(reflecting: value)
            guard mirror.displayStyle == .enum, let child = mirror.children.first else { return "\(value)" }
            return child.label ?? "\(value)"
        }
        switch message {
        case .request(_, let r): return "request." + (r == .subscribe ? "subscribe" : caseName(r))
        case .reply(_, let r): return "reply." + caseName(r)
        case .feed(.delta(_, let change)): return "feed.delta." + caseName(change)
        case .feed(let f): return "feed." + caseName(f)
        case .envelope(let e):
            switch e.message {
            case .membership(let m): return "envelope.membership." + caseName(m)
            case .ketch(let k): return "envelope.ketch." + caseName(k)
            }
        case .authenticate(let a): return "auth." + a.role.rawValue
        default: return message.type
        }
    }

    @Test func everyExampleIsExactlyWhatTheEncoderWrites() throws {
        let lines = try Self.exampleLines()
        #expect(lines.count >= 20)
        for line in lines {
            let message = try Self.decodeEither(line)
            #expect(try WireCodec.encodeString(message) == line)
        }
    }

    @Test func everyKindOfMessageHasAnExample() throws {
        let documented = Set(try Self.exampleLines().map { Self.kind(try Self.decodeEither($0)) })
        let all = Set((WireFixtures.apiMessages + WireFixtures.memberMessages).map(Self.kind))
        #expect(all.subtracting(documented).isEmpty, "undocumented: \(all.subtracting(documented).sorted())")
    }

    /// `KETCH_PRINT_WIRE_EXAMPLES=1 swift test --filter printExamples` prints a line per fixture,
    /// to paste into docs/wire.md after a deliberate format change.
    @Test func printExamples() throws {
        guard ProcessInfo.processInfo.environment["KETCH_PRINT_WIRE_EXAMPLES"] == "1" else { return }
        for message in WireFixtures.apiMessages + WireFixtures.memberMessages {
            print("\(Self.kind(message))\t\(try WireCodec.encodeString(message))")
        }
    }
}
