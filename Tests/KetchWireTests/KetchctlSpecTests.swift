import Foundation
import KetchShared
import Testing
@testable import ketchctl

@Suite struct KetchctlSpecTests {
    static let sampleURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/samplereplica.yaml")

    @Test func theSeedsSampleFileParses() throws {
        let text = try String(contentsOf: Self.sampleURL, encoding: .utf8)
        let specs = try ReplicaSpecFile.parse(text, source: "samplereplica.yaml")
        #expect(specs == [ReplicaSpec(name: "mydb1", quorumGroupSize: 3,
                                      dbConfig: .init(username: "myuser", password: "mypassword", port: 5432, closedPort: 5433))])
    }

    static let valid = """
        data:
        - attributes:
            name: mydb1
            quorumGroupSize: 3
            dbConfig:
              username: myuser
              password: mypassword
              port: 5432
              closedPort: 5433
          type: replica
        """

    static func failure(_ text: String) -> String? {
        do { _ = try ReplicaSpecFile.parse(text, source: "spec.yaml"); return nil } catch { return error.description }
    }

    @Test(arguments: [
        (valid.replacingOccurrences(of: "    name: mydb1", with: "    name: mydb1\n    colour: red"),
         "bad-spec: spec.yaml: unknown field data[0].attributes.colour; accepted here: name, quorumGroupSize, dbConfig, asyncMembers, homeServer"),
        (valid.replacingOccurrences(of: "port: 5432", with: "port: 5432\n      host: x"),
         "bad-spec: spec.yaml: unknown field in data[0].attributes.dbConfig (not shown: it may be the password); accepted here: username, password, port, closedPort"),
        // Spec fuzzing, seed 8201, input 144,544: a missing space made the password a key, and
        // the error quoted it.
        ("data:\n- attributes: {name: a, quorumGroupSize: 3, dbConfig: {username: app,!password: \"mypassword\", port: 1, closedPort: 2}}\n  type: replica",
         "bad-spec: spec.yaml: unknown field in data[0].attributes.dbConfig (not shown: it may be the password); accepted here: username, password, port, closedPort"),
        (valid.replacingOccurrences(of: "quorumGroupSize: 3", with: "quorumGroupSize: three"),
         "bad-spec: spec.yaml: data[0].attributes.quorumGroupSize must be a whole number (got 'three')"),
        (valid.replacingOccurrences(of: "quorumGroupSize: 3", with: "quorumGroupSize: \"3\""),
         "bad-spec: spec.yaml: data[0].attributes.quorumGroupSize must be a whole number (got '3')"),
        (valid.replacingOccurrences(of: "      closedPort: 5433\n", with: ""),
         "bad-spec: spec.yaml: missing field data[0].attributes.dbConfig.closedPort"),
        (valid.replacingOccurrences(of: "  type: replica", with: "  type: server"),
         "bad-spec: spec.yaml: data[0].type is 'server'; only 'replica' can be created"),
        (valid.replacingOccurrences(of: "data:", with: "items:"),
         "bad-spec: spec.yaml: unknown field items; accepted here: data"),
        ("data: []", "bad-spec: spec.yaml: data must be a non-empty list of resources (- attributes: ... type: replica)"),
        ("", "bad-spec: spec.yaml is empty; expected a document with data: - attributes: {...} type: replica"),
        (valid.replacingOccurrences(of: "quorumGroupSize: 3", with: "quorumGroupSize: 4"),
         "bad-spec: spec.yaml: data[0].attributes: quorumGroupSize 4 is not supported; use one of 1, 3, 5, 7"),
        (valid.replacingOccurrences(of: "name: mydb1", with: "name: [a, b]"),
         "bad-spec: spec.yaml: data[0].attributes.name must be text, not a list, mapping or null"),
        (valid.replacingOccurrences(of: "name: mydb1", with: "name:"),
         "bad-spec: spec.yaml: data[0].attributes.name must be text, not a list, mapping or null"),
    ])
    func strictErrorsNameTheField(_ text: String, _ expected: String) {
        #expect(Self.failure(text) == expected)
    }

    @Test func brokenYAMLSaysWhereWithoutEchoingTheDocument() {
        let text = Self.valid.replacingOccurrences(of: "password: mypassword", with: "password: [mypassword")
        let message = Self.failure(text)
        #expect(message?.hasPrefix("bad-spec: spec.yaml is not valid YAML:") == true)
        #expect(message?.contains("line") == true)
        #expect(message?.contains("mypassword") == false)
    }

    /// The spec fuzzer's input 747 (seed 20261127, 20,000 inputs): a 4 KiB `type` came back whole
    /// in the error. Echoed text is cut after 64 characters, with the full length said.
    @Test func longValuesAndKeysAreCutInErrors() throws {
        let longType = String(repeating: "a", count: 4096)
        let message = try #require(Self.failure(Self.valid.replacingOccurrences(of: "type: replica", with: "type: \(longType)")))
        #expect(message.utf8.count < 200, "\(message.utf8.count) bytes: \(message.prefix(120))")
        #expect(message.contains(String(repeating: "a", count: 64) + "… (4096 bytes)"))
        let longKey = String(repeating: "k", count: 100_000)
        let keyMessage = try #require(Self.failure(Self.valid.replacingOccurrences(of: "    name: mydb1", with: "    name: mydb1\n    \(longKey): 1")))
        #expect(keyMessage.utf8.count < 400 && !keyMessage.contains("\n"), "\(keyMessage.utf8.count) bytes")
    }

    /// The spec fuzzer once made a 1.2 GB document (50,000 levels of block nesting), and the
    /// parse ran past its 5 s limit. A spec file is at most 1 MiB, refused before parsing, from
    /// a file (by its size, before reading it) as from standard input.
    @Test func aSpecOverOneMebibyteIsRefusedBeforeParsing() throws {
        var deep = "data:\n"
        var indent = ""
        for _ in 0..<2_000 { deep += indent + "- \n"; indent += " " }
        #expect(deep.utf8.count > ReplicaSpec.maxSpecFileBytes)
        let message = try #require(Self.failure(deep))
        #expect(message == "bad-spec: spec.yaml is \(deep.utf8.count) bytes; a spec file is at most 1048576 bytes (1 MiB): a replica's spec is about 200 bytes, so split the file")
        let path = NSTemporaryDirectory() + "ketch-huge-spec-\(getpid()).yaml"
        try Data(deep.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { _ = try CreateReplica.read(path) } throws: { ($0 as? CtlError)?.description.contains("\(path) is \(deep.utf8.count) bytes") == true }
        // A symlink has its own small size: the bounded read refuses it instead.
        let link = path + ".link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        defer { try? FileManager.default.removeItem(atPath: link) }
        #expect { _ = try CreateReplica.read(link) } throws: { ($0 as? CtlError)?.description.contains("\(link) is over 1048576 bytes") == true }
        // Exactly at the limit it still parses, and is accepted.
        #expect(Self.failure(Self.valid + String(repeating: "\n", count: ReplicaSpec.maxSpecFileBytes - Self.valid.utf8.count)) == nil)
    }

    @Test func passwordsOfAnyScalarTypeAreTakenAsTextAndNeverShown() throws {
        let numeric = Self.valid.replacingOccurrences(of: "password: mypassword", with: "password: 12345")
        #expect(try ReplicaSpecFile.parse(numeric, source: "s").first?.dbConfig.password == "12345")
        let listy = Self.valid.replacingOccurrences(of: "password: mypassword", with: "password: {x: hunter2}")
        let message = Self.failure(listy)
        #expect(message == "bad-spec: spec.yaml: data[0].attributes.dbConfig.password must be text")
    }

    @Test func duplicateFieldsAreRefused() {
        let text = Self.valid.replacingOccurrences(of: "    name: mydb1", with: "    name: mydb1\n    name: mydb2")
        #expect(Self.failure(text)?.contains("duplicate") == true)
    }

    @Test func severalItemsBecomeSeveralSpecs() throws {
        let two = Self.valid + "\n" + Self.valid.replacingOccurrences(of: "data:\n", with: "").replacingOccurrences(of: "mydb1", with: "mydb2")
        #expect(try ReplicaSpecFile.parse(two, source: "s").map(\.name) == ["mydb1", "mydb2"])
    }
}
