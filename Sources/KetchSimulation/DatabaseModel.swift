import KetchCore
import KetchShared

/// A model of one server's Postgres copy of one replica, with the semantics that matter for
/// safety: a log of committed values, streaming from a primary, synchronous standbys, and a
/// client gate that closes by itself at the watchdog deadline (on the server's own clock).
struct DatabaseCopy {
    /// `standby` names the followed server by its index in the simulation.
    enum Role: Equatable { case none, primary, standby(Int) }
    var role: Role = .none
    var log: [Int] = []
    /// Indices of the synchronous standbys.
    var synchronous: [Int] = []
    /// Open to clients while the server's clock is before this instant.
    var openUntil: Instant?
    /// Written on the primary, not yet acknowledged to the client.
    var pending: [Int] = []
    /// Counts `openToClients`: a fence that completes after a later open must not close it.
    var opens = 0
    /// When the last fence asked for completes (real time): fences complete in order.
    var fenceDoneReal: Int64 = 0

    func isOpen(at local: Instant) -> Bool { role == .primary && openUntil.map { local < $0 } ?? false }
}
