import Foundation
import KetchShared
import Testing
@testable import ketchctl

@Suite struct KetchctlFormatTests {
    static func server(_ id: String, _ name: String, _ addr: String) -> Resource {
        // Keys deliberately unsorted: the formatter sorts them as the seed shows.
        Resource(attributes: .object([
            ("name", .string(name)),
            ("id", .string(id)),
            ("endpoint", .object([("port", .int(7459)), ("addr", .string(addr))])),
        ]), id: id, type: .server)
    }

    @Test func getServerMatchesTheSeedREADMEByteForByte() {
        let list = ResourceList(data: [
            Self.server("6fbacbae-2954-4472-9795-e59945f4d4b5", "server1", "127.0.2.1"),
            Self.server("23becdbc-20db-4ddd-892c-31a77a0a1714", "server2", "127.0.2.2"),
        ])
        let expected = """
            data:
            - attributes:
                endpoint:
                  addr: 127.0.2.1
                  port: 7459
                id: 6fbacbae-2954-4472-9795-e59945f4d4b5
                name: server1
              id: 6fbacbae-2954-4472-9795-e59945f4d4b5
              type: server
            - attributes:
                endpoint:
                  addr: 127.0.2.2
                  port: 7459
                id: 23becdbc-20db-4ddd-892c-31a77a0a1714
                name: server2
              id: 23becdbc-20db-4ddd-892c-31a77a0a1714
              type: server

            """
        #expect(Get.render(list, as: .yaml) == expected)
    }

    @Test func emptyListsNestedListsAndScalars() {
        #expect(Get.render(ResourceList(data: []), as: .yaml) == "data: []\n")
        let value = JSONValue.object([
            ("members", .array([.string("a"), .object([("x", .int(1)), ("z", .null)])])),
            ("empty", .object([])),
            ("none", .array([])),
            ("ok", .bool(true)),
            ("lag", .double(0.5)),
        ])
        #expect(YAMLFormatter.format(value) == """
            empty: {}
            lag: 0.5
            members:
            - a
            - x: 1
              z: null
            none: []
            ok: true

            """)
    }

    @Test(arguments: [
        ("server1", "server1"), ("127.0.2.1", "127.0.2.1"), ("", "\"\""), ("true", "\"true\""), ("No", "\"No\""),
        ("5432", "\"5432\""), ("1e3", "\"1e3\""), ("a: b", "\"a: b\""), ("-x", "\"-x\""), ("line\nbreak", "\"line\\nbreak\""),
        ("2026-11-27", "\"2026-11-27\""), ("host=a,b port=1", "host=a,b port=1"), ("say \"hi\"", "say \"hi\""), ("#tag", "\"#tag\""),
    ])
    func stringsAreQuotedOnlyWhenAReaderWouldMisreadThem(_ input: String, _ expected: String) {
        #expect(YAMLFormatter.scalar(.string(input)) == expected)
    }

    @Test func yamlOutputReadsBackAsTheSameValues() throws {
        let tricky = ["true", "5432", "a: b", "line\nbreak", "-x", "null", "0x1F", "~", "ünïcode", "tab\there", "quote\"s"]
        let value = JSONValue.object(tricky.enumerated().map { ("k\($0.offset)", .string($0.element)) })
        let text = YAMLFormatter.format(value)
        let parsed = try YAMLDecoderShim.decodeStrings(text)
        for (i, s) in tricky.enumerated() { #expect(parsed["k\(i)"] == s, "k\(i)") }
    }

    @Test func jsonOutputIsSortedAndParsable() throws {
        let list = ResourceList(data: [Self.server("id1", "server1", "127.0.2.1")])
        let text = Get.render(list, as: .json)
        #expect(try JSONDecoder().decode(ResourceList.self, from: Data(text.utf8)) == ResourceList(data: [
            Resource(attributes: .object([
                ("endpoint", .object([("addr", .string("127.0.2.1")), ("port", .int(7459))])),
                ("id", .string("id1")), ("name", .string("server1")),
            ]), id: "id1", type: .server),
        ]))
        #expect(text.contains("\"attributes\""))
    }
}

import Yams

/// Reads a flat YAML mapping of strings with Yams, as another tool would.
enum YAMLDecoderShim {
    static func decodeStrings(_ text: String) throws -> [String: String] {
        try YAMLDecoder().decode([String: String].self, from: text)
    }
}
