import Crypto

extension ClusterSecret {
    /// A password derived from the cluster secret for one purpose (e.g. one replica's
    /// replication role), identical on every node and never stored or sent: each node computes
    /// it when it needs it. Derivation is one-way, so the password does not reveal the secret.
    public func derivedPassword(purpose: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("ketch-derive-v1|\(purpose)".utf8), using: key)
        return Hex.encode(Array(mac))
    }
}
