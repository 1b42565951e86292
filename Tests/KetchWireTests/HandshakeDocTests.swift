import Foundation
import KetchShared
import Testing
@testable import KetchWire

/// docs/wire.md walks through one handshake with a published secret and fixed nonces, so that
/// another implementation can check its HMACs. This test recomputes it.
@Suite struct HandshakeDocTests {
    static let secretText = "example-cluster-secret-0123456789"
    static let serverNonce = Hex.encode(Array(0..<32) as [UInt8])
    static let clientNonce = Hex.encode(Array(32..<64) as [UInt8])

    static func lines() throws -> [String] {
        let secret = try ClusterSecret(bytes: Array(secretText.utf8))
        let server = ServerHandshake(secret: secret, role: .client, port: .api, nonce: serverNonce)
        var client = ClientHandshake(secret: secret, role: .client, peer: "doc", nonce: clientNonce)
        guard case .success(.send(let auth)) = client.receive(server.hello),
              case .success(let welcome) = server.receive(auth),
              client.receive(welcome) == .success(.authenticated) else {
            throw WireError(.authFailed, "the documented handshake does not complete")
        }
        return try [server.hello, auth, welcome].map { try WireCodec.encodeString($0) }
    }

    @Test func theWorkedExampleInTheDocsIsCorrect() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/wire.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let lines = try Self.lines()
        if ProcessInfo.processInfo.environment["KETCH_PRINT_WIRE_EXAMPLES"] == "1" { lines.forEach { print("HS\t\($0)") } }
        for line in lines { #expect(text.contains(line), "docs/wire.md lacks \(line)") }
        #expect(text.contains(Self.secretText))
        #expect(text.contains("ketch-wire-v1|client|client|\(Self.serverNonce)|\(Self.clientNonce)"))
    }
}
