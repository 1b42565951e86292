import Crypto
import KetchShared

/// The mutual challenge–response, as two small state machines with no I/O.
///
/// ```
/// server → hello{nonce: Ns}
/// client → auth{nonce: Nc, role, mac: HMAC(secret, "ketch-wire-v1|client|role|Ns|Nc")}
/// server → welcome{mac: HMAC(secret, "ketch-wire-v1|server|role|Ns|Nc")}   (or error + close)
/// ```
/// Both nonces are fresh per connection, so neither proof can be replayed; the client and
/// server proofs use different context strings, so a server cannot reflect a client's proof;
/// the role is bound in, so a client proof cannot open the member port. The secret itself never
/// travels. What this does not give: confidentiality or integrity of later lines (no TLS).
enum HandshakeProof {
    static let context = "ketch-wire-v1"
    /// 32 random bytes, hex.
    static let nonceHexLength = 64

    static func mac(secret: ClusterSecret, side: String, role: WireRole, serverNonce: String, clientNonce: String) -> [UInt8] {
        let text = [context, side, role.rawValue, serverNonce, clientNonce].joined(separator: "|")
        return Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: secret.key))
    }

    static func verify(_ macHex: String, secret: ClusterSecret, side: String, role: WireRole, serverNonce: String, clientNonce: String) -> Bool {
        guard let mac = Hex.decode(macHex) else { return false }
        let text = [context, side, role.rawValue, serverNonce, clientNonce].joined(separator: "|")
        // Constant-time comparison inside swift-crypto.
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Array(text.utf8), using: secret.key)
    }

    static func makeNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    }

    static func isWellFormedNonce(_ s: String) -> Bool {
        s.utf8.count == nonceHexLength && Hex.decode(s) != nil
    }

    static let mismatchMessage = "the cluster secret does not match; use the same secret file as the nodes (--secret-file / KETCH_SECRET_FILE)"
}

/// The server side: sends `hello`, checks the client's `auth`, answers `welcome` or an error.
struct ServerHandshake {
    let secret: ClusterSecret
    /// The role this port admits.
    let role: WireRole
    let port: WirePort
    let nonce: String

    init(secret: ClusterSecret, role: WireRole, port: WirePort, nonce: String = HandshakeProof.makeNonce()) {
        self.secret = secret; self.role = role; self.port = port; self.nonce = nonce
    }

    var hello: WireMessage { .hello(Hello(nonce: nonce)) }

    /// The answer to the client's first line: `.success(welcome)` admits it; `.failure` is sent
    /// back as an error line and the connection is closed.
    func receive(_ message: WireMessage) -> Result<WireMessage, WireError> {
        guard case .authenticate(let auth) = message else {
            if case .error = message { return .failure(WireError(.notAuthenticated, "the connection sent an error instead of authenticating")) }
            return .failure(WireError(.notAuthenticated, "a '\(message.type)' line arrived before authentication; answer the server's hello with an auth line first (see docs/wire.md)"))
        }
        guard auth.role == role else {
            let hint = port == .member
                ? "this is a node's member port; clients (ketchctl, ketch-tui) connect to the api port (default 7460)"
                : "this is a node's api port; nodes talk to each other on the member port (default 7459)"
            return .failure(WireError(.authFailed, "role '\(auth.role.rawValue)' is not accepted here: \(hint)"))
        }
        guard HandshakeProof.isWellFormedNonce(auth.nonce) else {
            return .failure(WireError(.authFailed, "the auth nonce must be \(HandshakeProof.nonceHexLength) hex characters (32 random bytes)"))
        }
        guard HandshakeProof.verify(auth.mac, secret: secret, side: "client", role: role, serverNonce: nonce, clientNonce: auth.nonce) else {
            return .failure(WireError(.authFailed, HandshakeProof.mismatchMessage))
        }
        let proof = HandshakeProof.mac(secret: secret, side: "server", role: role, serverNonce: nonce, clientNonce: auth.nonce)
        return .success(.welcome(Welcome(mac: Hex.encode(proof))))
    }
}

/// The client side: answers `hello` with `auth`, then checks the server's `welcome`.
struct ClientHandshake {
    enum Step: Equatable {
        /// Send this line and keep reading.
        case send(WireMessage)
        /// The server proved itself: the connection is ready.
        case authenticated
    }

    let secret: ClusterSecret
    let role: WireRole
    /// Named in errors ("the node at 127.0.0.1:7460 ...").
    let peer: String
    let nonce: String
    private var serverNonce: String?

    init(secret: ClusterSecret, role: WireRole, peer: String, nonce: String = HandshakeProof.makeNonce()) {
        self.secret = secret; self.role = role; self.peer = peer; self.nonce = nonce
    }

    mutating func receive(_ message: WireMessage) -> Result<Step, WireError> {
        switch message {
        case .hello(let hello) where serverNonce == nil:
            guard HandshakeProof.isWellFormedNonce(hello.nonce) else {
                return .failure(WireError(.authFailed, "\(peer) sent a malformed hello nonce; is it a Ketch node of the same version?"))
            }
            serverNonce = hello.nonce
            let mac = HandshakeProof.mac(secret: secret, side: "client", role: role, serverNonce: hello.nonce, clientNonce: nonce)
            return .success(.send(.authenticate(Authenticate(nonce: nonce, role: role, mac: Hex.encode(mac)))))
        case .welcome(let welcome) where serverNonce != nil:
            guard HandshakeProof.verify(welcome.mac, secret: secret, side: "server", role: role, serverNonce: serverNonce!, clientNonce: nonce) else {
                return .failure(WireError(.authFailed, "\(peer) could not prove it holds the cluster secret; \(HandshakeProof.mismatchMessage)"))
            }
            return .success(.authenticated)
        case .error(let error):
            if error.code == .authFailed {
                return .failure(WireError(.authFailed, "\(peer) refused this client: \(error.message)"))
            }
            return .failure(WireError(error.code, "\(peer) refused the connection: \(error.message)"))
        default:
            return .failure(WireError(.unexpectedMessage, "\(peer) sent a '\(message.type)' line during the handshake; is it a Ketch node of the same version?"))
        }
    }
}
