/// Which listening port a line travels on. Each port accepts its own set of line types, so a
/// console that connects to the member port by mistake is told so instead of confusing a node.
public enum WirePort: String, Hashable, Codable, Sendable, CaseIterable {
    /// 7459: node ↔ node (membership probes and Ketch protocol messages).
    case member
    /// 7460: clients (`ketchctl`, `ketch-tui`) ↔ node (control requests and the status feed).
    case api

    /// Line `type`s this port carries, in documentation order.
    public var acceptedTypes: [String] {
        switch self {
        case .member: ["hello", "auth", "welcome", "error", "envelope"]
        case .api: ["hello", "auth", "welcome", "error", "request", "reply", "feed"]
        }
    }
}

/// Who is authenticating: nodes use `peer` on the member port, tools use `client` on the api port.
/// The role is inside the HMAC, so a proof made for one role cannot be replayed as the other.
public enum WireRole: String, Hashable, Codable, Sendable, CaseIterable {
    case peer, client
}

/// First line of every connection, sent by the server: a fresh random nonce (hex) the client must
/// include in its proof, so a recorded proof is useless on another connection.
public struct Hello: Hashable, Codable, Sendable {
    public var nonce: String
    public init(nonce: String) { self.nonce = nonce }
}

/// The client's answer to `Hello`: its own nonce (so the server's proof is fresh too), its role,
/// and `mac` = HMAC-SHA256(secret, context ‖ role ‖ server nonce ‖ client nonce), hex.
public struct Authenticate: Hashable, Codable, Sendable {
    public var nonce: String
    public var role: WireRole
    public var mac: String
    public init(nonce: String, role: WireRole, mac: String) { self.nonce = nonce; self.role = role; self.mac = mac }
}

/// The server's proof that it holds the secret too, sent only after the client's proof checked out.
public struct Welcome: Hashable, Codable, Sendable {
    public var mac: String
    public init(mac: String) { self.mac = mac }
}

/// One NDJSON line on either port. Every line is a JSON object with `"v": 1` and a `"type"`;
/// the payload sits in a field named after the type (see docs/wire.md for literal examples).
public enum WireMessage: Hashable, Sendable {
    /// Server → client, first line.
    case hello(Hello)
    /// Client → server, answer to `hello` (`"type": "auth"`).
    case authenticate(Authenticate)
    /// Server → client: authentication succeeded; carries the server's proof.
    case welcome(Welcome)
    /// Either way: something was wrong. When `requestID` is set it answers that request.
    case error(WireError)
    /// Member port: one peer message.
    case envelope(PeerEnvelope)
    /// Api port, client → server. `id` is chosen by the client and echoed in every reply.
    case request(id: UInt64, ControlRequest)
    /// Api port, server → client. A request may get several `.progress` replies before its final one.
    case reply(id: UInt64, ControlReply)
    /// Api port, server → client, after a `subscribe` request.
    case feed(FeedMessage)

    /// The `type` field of this line.
    public var type: String {
        switch self {
        case .hello: "hello"
        case .authenticate: "auth"
        case .welcome: "welcome"
        case .error: "error"
        case .envelope: "envelope"
        case .request: "request"
        case .reply: "reply"
        case .feed: "feed"
        }
    }
}

extension WireMessage: Codable {
    enum CodingKeys: String, CodingKey {
        case v, type, nonce, role, mac, code, message, id, envelope, request, reply, feed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .v)
        guard version == WireCodec.version else {
            throw DecodingError.dataCorruptedError(forKey: .v, in: c, debugDescription: "wire version \(version) is not supported; this build speaks \(WireCodec.version)")
        }
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "hello":
            self = .hello(Hello(nonce: try c.decode(String.self, forKey: .nonce)))
        case "auth":
            self = .authenticate(Authenticate(
                nonce: try c.decode(String.self, forKey: .nonce),
                role: try c.decode(WireRole.self, forKey: .role),
                mac: try c.decode(String.self, forKey: .mac)))
        case "welcome":
            self = .welcome(Welcome(mac: try c.decode(String.self, forKey: .mac)))
        case "error":
            self = .error(WireError(
                try c.decode(WireError.Code.self, forKey: .code),
                try c.decode(String.self, forKey: .message),
                requestID: try c.decodeIfPresent(UInt64.self, forKey: .id)))
        case "envelope":
            self = .envelope(try c.decode(PeerEnvelope.self, forKey: .envelope))
        case "request":
            self = .request(id: try c.decode(UInt64.self, forKey: .id), try c.decode(ControlRequest.self, forKey: .request))
        case "reply":
            self = .reply(id: try c.decode(UInt64.self, forKey: .id), try c.decode(ControlReply.self, forKey: .reply))
        case "feed":
            self = .feed(try c.decode(FeedMessage.self, forKey: .feed))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown line type '\(type)'")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(WireCodec.version, forKey: .v)
        try c.encode(type, forKey: .type)
        switch self {
        case .hello(let h):
            try c.encode(h.nonce, forKey: .nonce)
        case .authenticate(let a):
            try c.encode(a.nonce, forKey: .nonce)
            try c.encode(a.role, forKey: .role)
            try c.encode(a.mac, forKey: .mac)
        case .welcome(let w):
            try c.encode(w.mac, forKey: .mac)
        case .error(let e):
            try c.encode(e.code, forKey: .code)
            try c.encode(e.message, forKey: .message)
            try c.encodeIfPresent(e.requestID, forKey: .id)
        case .envelope(let e):
            try c.encode(e, forKey: .envelope)
        case .request(let id, let r):
            try c.encode(id, forKey: .id)
            try c.encode(r, forKey: .request)
        case .reply(let id, let r):
            try c.encode(id, forKey: .id)
            try c.encode(r, forKey: .reply)
        case .feed(let f):
            try c.encode(f, forKey: .feed)
        }
    }
}
