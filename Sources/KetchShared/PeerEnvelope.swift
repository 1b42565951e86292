/// Everything that travels on the member port after the handshake.
public enum PeerMessage: Hashable, Codable, Sendable {
    case membership(MembershipMessage)
    case ketch(KetchMessage)
}

/// One line on the member port: who sent it and what.
public struct PeerEnvelope: Hashable, Codable, Sendable {
    public var from: ServerID
    public var message: PeerMessage
    public init(from: ServerID, message: PeerMessage) { self.from = from; self.message = message }
}

/// Hand-written so the message sits directly under its category (`{"membership":{"ping":...}}`)
/// instead of under Swift's synthesized `"_0"` key. `KetchMessage` itself stays synthesized,
/// so its new cases need no change here.
extension PeerMessage {
    private enum CodingKeys: String, CodingKey, CaseIterable {
        case membership, ketch
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "expected exactly one of membership, ketch"))
        }
        switch key {
        case .membership: self = .membership(try c.decode(MembershipMessage.self, forKey: key))
        case .ketch: self = .ketch(try c.decode(KetchMessage.self, forKey: key))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .membership(let m): try c.encode(m, forKey: .membership)
        case .ketch(let k): try c.encode(k, forKey: .ketch)
        }
    }
}
