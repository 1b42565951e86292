/// The PDF's message catalog (Lease, Epoch and Replica categories). Every message names the
/// instance (replica) it concerns. Filled in by the protocol core issue.
public enum KetchMessage: Hashable, Codable, Sendable {
    /// Placeholder until the protocol core lands; never sent.
    case reserved(replica: ReplicaID)
}
