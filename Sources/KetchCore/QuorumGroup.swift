import KetchShared

/// Step 1: choosing the next epoch's quorum group and data quorum.
enum QuorumGroup {
    /// The new group keeps as much of the current data quorum as is healthy (those copies are
    /// current), then healthy async members (promoted to sync: they only need the missing
    /// suffix), then other healthy group members, then spares — the home server first among equals.
    /// Group size is the spec's size, or fewer when not enough servers are healthy, but never
    /// below a majority of the spec's size. Data quorum = majority of the new group.
    /// Returns nil when too few servers are healthy.
    ///
    /// `lagging` are data-quorum members whose copies stopped keeping up although their servers
    /// are healthy (a Postgres that hangs, or cannot write): they come after the async members,
    /// so a caught-up async member takes the synchronous place, and the lagging one stays in the
    /// group as async, out of the commit path, keeping its copy for when it recovers.
    ///
    /// `caughtUp` are the standbys this primary's database reports caught up: among the async
    /// members they come first, since a caught-up copy can take a synchronous place at once.
    /// Ranked by name alone, a group of five whose first async member was behind never replaced
    /// a lagging data-quorum member with its caught-up second one.
    static func choose(me: ServerID, current: EpochInfo?, healthy: [ServerID], spec: ReplicaSpec, home: ServerID?,
                       lagging: Set<ServerID> = [], caughtUp: Set<ServerID> = []) -> EpochInfo? {
        let target = spec.quorumGroupSize
        let healthySet = Set(healthy).union([me])
        let size = min(target, healthySet.count)
        guard size >= spec.dataQuorumSize else { return nil }
        let dqSize = size / 2 + 1

        func preferred(_ xs: [ServerID]) -> [ServerID] {
            xs.filter { healthySet.contains($0) && $0 != me }.sorted { a, b in
                if (a == home) != (b == home) { return a == home }
                return a < b
            }
        }
        let old = current ?? EpochInfo(id: EpochID(sequence: 0, server: me), quorumGroup: [], dataQuorum: [])
        let others = old.quorumGroup.filter { !old.dataQuorum.contains($0) && !old.asyncMembers.contains($0) }
        let spares = healthySet.filter { !old.quorumGroup.contains($0) }
        var order: [ServerID] = [me]
        let keeping = { (xs: [ServerID]) in preferred(xs.filter { !lagging.contains($0) }) }
        let async = keeping(old.asyncMembers)
        let asyncRanked = async.filter { caughtUp.contains($0) } + async.filter { !caughtUp.contains($0) }
        for s in keeping(old.dataQuorum) + asyncRanked + preferred(Array(lagging)) + preferred(others) + preferred(Array(spares))
        where !order.contains(s) {
            order.append(s)
        }
        let group = Array(order.prefix(size))
        let dq = Array(group.prefix(dqSize))
        let rest = Array(group.dropFirst(dqSize))
        let asyncCount = min(spec.asyncMembers ?? rest.count, rest.count)
        return EpochInfo(id: old.id, quorumGroup: group.sorted(), dataQuorum: dq.sorted(), asyncMembers: Array(rest.prefix(asyncCount)).sorted())
    }
}
