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
