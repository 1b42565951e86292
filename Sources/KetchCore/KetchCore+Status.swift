import KetchShared

extension KetchCore {
    /// Every replica as this server sees it, for the status feed and `ketchctl get`.
    public func status(now: Instant) -> [ReplicaStatus] {
        replicas.keys.sorted().map { id in
            let st = replicas[id]!
            let rec = st.record
            let acceptor = acceptors[id]
            let mine = acceptor?.epoch(rec.epoch.id)
            let state: EpochState = mine?.state ?? (rec.epochOpen ? .open : .new)
            let epoch = EpochStatus(id: rec.epoch.id, state: state, quorumGroup: rec.epoch.quorumGroup,
                                    dataQuorum: rec.epoch.dataQuorum, successor: mine?.successor)
            let prior = rec.prior.map { p in
                let a = acceptor?.epoch(p.id)
                return EpochStatus(id: p.id, state: a?.state ?? .closed, quorumGroup: p.quorumGroup, dataQuorum: p.dataQuorum, successor: a?.successor)
            }
            var lease = LeaseStatus(epoch: rec.epoch.id, holder: nil, remainingMs: 0, durationMs: config.leaseDuration.milliseconds, ballot: nil)
            if let p = st.proposer, p.target.epoch == rec.epoch.id, p.target.successor == nil, let end = p.leaseEnd, now < end {
                lease.holder = config.server
                lease.remainingMs = (end - now).milliseconds
                lease.ballot = nil
            } else if let a = mine?.accepted, now < a.expiry {
                lease.holder = a.owner
                lease.remainingMs = (a.expiry - now).milliseconds
                lease.ballot = a.ballot
            }
            // A dead-branch copy never calls itself primary: it is a spare until it learns more.
            let stale = isStale(rec)
            let primary = stale && rec.primary == config.server ? nil : rec.primary
            let members = rec.epoch.quorumGroup.map { s -> ReplicaMemberStatus in
                let role = stale && s == config.server && rec.primary == s ? MemberRole.spare : rec.epoch.role(of: s, primary: primary)
                let data: DataState?
                if s == config.server { data = rec.dataState }
                else if rec.epoch.dataQuorum.contains(s) && rec.epoch.dataQuorum.contains(config.server) { data = rec.peerState }
                else if role == .async { data = .catchUp }
                else if rec.epoch.dataQuorum.contains(s) && rec.epochOpen { data = .inSync }
                else { data = nil }
                return ReplicaMemberStatus(server: s, role: role, dataState: data, postgres: s == config.server ? st.postgres : nil)
            }
            return ReplicaStatus(replica: id, name: rec.spec.name, quorumGroupSize: rec.spec.quorumGroupSize,
                                 port: rec.spec.dbConfig.port, closedPort: rec.spec.dbConfig.closedPort,
                                 primary: rec.epochOpen ? primary : nil, epoch: epoch, priorEpoch: prior,
                                 lease: lease, members: members, stale: stale ? true : nil)
        }
    }

    /// Whether this server currently tells its database to serve clients for `replica`.
    public func isServing(_ replica: ReplicaID) -> Bool {
        replicas[replica]?.serving != nil
    }

    /// The persisted replica records (for inspection by tests and the simulator).
    public var replicaRecords: [ReplicaID: ReplicaRecord] { replicas.mapValues(\.record) }

    /// One persisted replica record, without building the whole map.
    public func replicaRecord(_ id: ReplicaID) -> ReplicaRecord? { replicas[id]?.record }

    /// The acceptor records (for inspection by tests and the simulator).
    public var acceptorRecords: [ReplicaID: AcceptorRecord] { acceptors }

    /// Until when this server's acceptors stay silent after a reboot.
    public var acceptorQuietUntil: Instant? { quietUntil }
}
