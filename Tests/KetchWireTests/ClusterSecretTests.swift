import Foundation
import KetchShared
import Testing
@testable import KetchWire

@Suite struct ClusterSecretTests {
    static func withFile(_ content: String?, mode: Int = 0o600, _ body: (String) throws -> Void) rethrows {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketch-secret-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("secret").path
        if let content {
            _ = FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: mode])
        }
        try body(path)
    }

    @Test func trailingWhitespaceIsTrimmed() throws {
        try Self.withFile("0123456789abcdef0123\n  \n") { path in
            let fromFile = try ClusterSecret(contentsOfFile: path)
            let direct = try ClusterSecret(bytes: Array("0123456789abcdef0123".utf8))
            // Same key: a proof made with one verifies with the other.
            let mac = HandshakeProof.mac(secret: fromFile, side: "client", role: .client, serverNonce: "a", clientNonce: "b")
            #expect(HandshakeProof.verify(Hex.encode(mac), secret: direct, side: "client", role: .client, serverNonce: "a", clientNonce: "b"))
        }
    }

    @Test func missingFileNamesThePathAndTheFix() {
        do {
            _ = try ClusterSecret(contentsOfFile: "/nonexistent/ketch-secret")
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.code == .badSecret)
            #expect(error.message.contains("/nonexistent/ketch-secret"))
            #expect(error.message.contains("does not exist"))
            #expect(error.message.contains("--secret-file"))
        }
    }

    @Test(arguments: ["", "   \n", "short-secret\n"])
    func emptyOrShortSecretsAreRefusedWithoutEchoingThem(_ content: String) {
        Self.withFile(content) { path in
            do throws(WireError) {
                _ = try ClusterSecret(contentsOfFile: path)
                Issue.record("a weak secret was accepted")
            } catch {
                #expect(error.code == .badSecret)
                #expect(error.message.contains(path))
                #expect(!error.message.contains("short-secret"))
            }
        }
    }

    @Test func descriptionsAreRedacted() throws {
        let secret = try ClusterSecret(bytes: Array("super-secret-value-123".utf8))
        #expect("\(secret)" == "ClusterSecret(redacted)")
        #expect(String(reflecting: secret) == "ClusterSecret(redacted)")
        #expect(!"\(secret)".contains("super"))
    }

    @Test func generatedSecretsAreLongAndDistinct() throws {
        let a = ClusterSecret.generateText(), b = ClusterSecret.generateText()
        #expect(a.count == 64 && a != b)
        _ = try ClusterSecret(bytes: Array(a.utf8))
    }

    @Test func handshakeProofsAreBoundToRoleAndSide() throws {
        let mac = Hex.encode(HandshakeProof.mac(secret: testSecret, side: "client", role: .client, serverNonce: "n1", clientNonce: "n2"))
        #expect(HandshakeProof.verify(mac, secret: testSecret, side: "client", role: .client, serverNonce: "n1", clientNonce: "n2"))
        #expect(!HandshakeProof.verify(mac, secret: testSecret, side: "server", role: .client, serverNonce: "n1", clientNonce: "n2"))
        #expect(!HandshakeProof.verify(mac, secret: testSecret, side: "client", role: .peer, serverNonce: "n1", clientNonce: "n2"))
        #expect(!HandshakeProof.verify(mac, secret: testSecret, side: "client", role: .client, serverNonce: "n3", clientNonce: "n2"))
        #expect(!HandshakeProof.verify(mac, secret: otherSecret, side: "client", role: .client, serverNonce: "n1", clientNonce: "n2"))
        #expect(!HandshakeProof.verify("zz", secret: testSecret, side: "client", role: .client, serverNonce: "n1", clientNonce: "n2"))
    }

    @Test func serverHandshakeRefusesEverythingButAValidAuth() {
        let server = ServerHandshake(secret: testSecret, role: .client, port: .api)
        var client = ClientHandshake(secret: testSecret, role: .client, peer: "the node at x:1")
        guard case .success(.send(let auth)) = client.receive(server.hello) else { Issue.record("no auth"); return }
        guard case .success(let welcome) = server.receive(auth) else { Issue.record("valid auth refused"); return }
        #expect(client.receive(welcome) == .success(.authenticated))

        guard case .failure(let e1) = server.receive(.request(id: 1, .subscribe)) else { Issue.record("request admitted"); return }
        #expect(e1.code == .notAuthenticated)
        guard case .authenticate(var bad) = auth else { return }
        bad.nonce = "short"
        guard case .failure(let e2) = server.receive(.authenticate(bad)) else { Issue.record("short nonce admitted"); return }
        #expect(e2.code == .authFailed)
    }
}
