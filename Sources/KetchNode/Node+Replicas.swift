import Foundation
import KetchCore
import KetchShared
import KetchWire

/// Databases as users see them: create, delete, fail over, connection strings, `get`.
extension Node {
    static let createTimeoutSeconds = 120.0
    static let failoverTimeoutSeconds = 60.0

    func replicaID(named name: String) -> ReplicaID? {
        core.replicaRecords.values.first { $0.spec.name == name || $0.replica.rawValue == name }?.replica
    }

    /// A server that holds no copy of a database (a spare) does not know it; it forwards the
    /// request to a live member that does, so any node answers for the whole cluster.
    func forwardToHolder(of name: String, _ request: ControlRequest, progress: (@Sendable (String) async -> Void)? = nil) async -> ControlReply {
        for m in membership.others where m.record.health == .alive {
            guard let client = try? await APIClient.connect(to: m.record.apiEndpoint, secret: secret, timeout: .seconds(1)) else { continue }
            defer { Task { await client.close() } }
            guard case .resources(let list)? = try? await client.request(.get(kind: .replica, id: name), timeout: .seconds(2)),
                  !list.data.isEmpty else { continue }
            if let progress { await progress("forwarding to \(m.record.name), which holds \(name)") }
            do {
                return try await client.request(request, timeout: .seconds(Int(Self.failoverTimeoutSeconds) + 10)) { line in
                    if let progress { Task { await progress(line) } }
                }
            } catch {
                return .error(ErrorReply(code: "forward-failed", message: "could not reach \(m.record.name) at \(m.record.apiEndpoint): \(error)"))
            }
        }
        return notFound(name)
    }

    /// Forwards to the live member that reports itself as the open primary of `name`, if any.
    private func forwardToServingPrimary(of name: String, _ request: ControlRequest, progress: @escaping @Sendable (String) async -> Void) async -> ControlReply? {
        for m in membership.others where m.record.health == .alive {
            guard let client = try? await APIClient.connect(to: m.record.apiEndpoint, secret: secret, timeout: .seconds(1)) else { continue }
            defer { Task { await client.close() } }
            guard case .resources(let list)? = try? await client.request(.get(kind: .replica, id: name), timeout: .seconds(2)),
                  let attrs = list.data.first?.attributes, attrs["role"] == .string("primary"),
                  attrs["epochState"] == .string("open") else { continue }
            await progress("forwarding to the primary \(m.record.name)")
            do {
                return try await client.request(request, timeout: .seconds(Int(Self.failoverTimeoutSeconds) + 5)) { line in
                    Task { await progress(line) }
                }
            } catch {
                return .error(ErrorReply(code: "forward-failed", message: "could not reach the primary \(m.record.name) at \(m.record.apiEndpoint): \(error)"))
            }
        }
        return nil
    }

    private func notFound(_ name: String) -> ControlReply {
        .error(ErrorReply(code: "not-found", message: "no database named '\(name)' on \(config.name); list them with 'ketchctl get replica'"))
    }

    func create(_ spec: ReplicaSpec) async -> ControlReply {
        do { try spec.validate() } catch { return .error(error) }
        for r in core.replicaRecords.values.sorted(by: { $0.spec.name < $1.spec.name }) {
            if r.spec.name == spec.name {
                return .error(ErrorReply(code: "exists", message: "a database named '\(spec.name)' already exists (id \(r.replica.short)); delete it first or choose another name"))
            }
            let used = [r.spec.dbConfig.port, r.spec.dbConfig.closedPort]
            for (field, port) in [("port", spec.dbConfig.port), ("closedPort", spec.dbConfig.closedPort)] where used.contains(port) {
                return .error(ErrorReply(code: "port-in-use", message: "dbConfig.\(field) \(port) is already used by database '\(r.spec.name)'; choose another port"))
            }
        }
        var spec = spec
        if let home = spec.homeServer {
            // Users name servers; the core wants the home server's ID.
            guard let id = serverID(named: home) else {
                return .error(ErrorReply(code: "bad-spec", message: "homeServer '\(home)' is not a member; use a server name from 'ketchctl get server'"))
            }
            spec.homeServer = id.rawValue
        }
        let alive = membershipView.filter(\.value).count
        guard spec.quorumGroupSize <= alive else {
            return .error(ErrorReply(code: "not-enough-servers", message: "quorumGroupSize \(spec.quorumGroupSize) needs \(spec.quorumGroupSize) healthy servers; \(alive) are healthy now"))
        }
        let id = ReplicaID(UUID().uuidString.lowercased())
        step(.command(.createReplica(id, spec), now: MonotonicClock.now()))
        guard core.replicaRecords[id] != nil else {
            return .error(ErrorReply(code: "create-refused", message: "the protocol core refused to create '\(spec.name)' (see the node log); nothing was created"))
        }
        if let failure = await unpersisted() { return failure }
        return .ok(message: "created database \(spec.name) (replica \(id.rawValue)); it opens for writes once its quorum group is ready — watch with 'ketchctl get replica'")
    }

    /// Waits until the command's records are on disk; an error reply if they could not be written.
    private func unpersisted() async -> ControlReply? {
        await outbox.flushed()
        guard outbox.hasFailed else { return nil }
        return .error(ErrorReply(code: "cannot-persist", message: "\(config.name) could not write its protocol state to \(config.dataDirectory)/ketch.db and is stopping; nothing was done: free space there and ask again"))
    }

    func delete(_ name: String) async -> ControlReply {
        guard let id = replicaID(named: name) else { return await forwardToHolder(of: name, .deleteReplica(name: name)) }
        step(.command(.deleteReplica(id), now: MonotonicClock.now()))
        if let failure = await unpersisted() { return failure }
        return .ok(message: "deleted database \(name); its data directories are kept on every server")
    }

    func conninfo(_ name: String) async -> ControlReply {
        guard let id = replicaID(named: name), let r = core.replicaRecords[id] else { return await forwardToHolder(of: name, .conninfo(name: name)) }
        var names = [config.name]
        for m in membership.others { names.append(m.record.name) }
        let hosts = names.sorted().joined(separator: ",")
        return .conninfo("host=\(hosts) port=\(r.spec.dbConfig.port) user=\(r.spec.dbConfig.username) dbname=\(r.spec.name) target_session_attrs=read-write connect_timeout=2")
    }

    /// Planned switchover. Only the serving primary can start it, so another node forwards the
    /// request there; then it waits until an epoch with a new primary is open.
    func failover(_ name: String, to: String?, progress: @escaping @Sendable (String) async -> Void) async -> ControlReply {
        guard let id = replicaID(named: name), let record = core.replicaRecords[id] else {
            return await forwardToHolder(of: name, .failover(name: name, to: to), progress: progress)
        }
        var target: ServerID?
        if let to {
            guard let t = serverID(named: to) else {
                return .error(ErrorReply(code: "unknown-server", message: "no server named '\(to)'; list them with 'ketchctl get server'"))
            }
            target = t
        }
        let startEpoch = record.epoch.id
        let oldPrimary = record.primary
        if oldPrimary != identity.serverID || !core.isServing(id) {
            guard let primary = core.status(now: MonotonicClock.now()).first(where: { $0.replica == id })?.primary,
                  primary != identity.serverID, let endpoint = membership.members[primary]?.record.apiEndpoint else {
                // This copy's record may be stale (e.g. this server left the group): ask the others.
                if let reply = await forwardToServingPrimary(of: name, .failover(name: name, to: to), progress: progress) { return reply }
                return .error(ErrorReply(code: "no-primary", message: "database '\(name)' has no serving primary right now; wait for it to open and try again"))
            }
            await progress("forwarding to the primary \(self.name(of: primary))")
            do {
                let client = try await APIClient.connect(to: endpoint, secret: secret, timeout: .seconds(2))
                defer { Task { await client.close() } }
                return try await client.request(.failover(name: name, to: to), timeout: .seconds(Int(Self.failoverTimeoutSeconds) + 5)) { line in
                    Task { await progress(line) }
                }
            } catch {
                return .error(ErrorReply(code: "forward-failed", message: "could not reach the primary \(self.name(of: primary)) at \(endpoint): \(error)"))
            }
        }
        if target == identity.serverID {
            // A switchover to ourselves would fence this primary and hand over to someone else.
            return .ok(message: "\(config.name) is already the primary of \(name); nothing to do")
        }
        // The member the core will hand over to (the one named, else the first healthy data-quorum
        // member): this copy follows it right after the fence, without pg_rewind.
        let healthy = membershipView
        let handOverTo = target ?? record.epoch.dataQuorum.first { $0 != identity.serverID && healthy[$0] == true }
        let db = database(for: id)
        await db?.prepareHandOver(to: handOverTo)
        step(.command(.switchover(id, to: target), now: MonotonicClock.now()))
        if core.isServing(id) {
            await db?.prepareHandOver(to: nil)
            return .error(ErrorReply(code: "switchover-refused", message: "the switchover of \(name) was refused (see the node log); is the target an in-sync, healthy member of the data quorum?"))
        }
        await progress("switchover of \(name) started from epoch \(startEpoch.short)")
        let deadline = Date().addingTimeInterval(Self.failoverTimeoutSeconds)
        var lastSaid = ""
        while Date() < deadline {
            let s = core.status(now: MonotonicClock.now()).first { $0.replica == id }
            if let s, let e = s.epoch, e.id != startEpoch {
                let line = "epoch \(e.id.short) \(e.state.rawValue), primary \(s.members.first { $0.role == .primary }.map { self.name(of: $0.server) } ?? "?")"
                if line != lastSaid { await progress(line); lastSaid = line }
            }
            if let r = core.replicaRecords[id], r.epoch.id != startEpoch, r.primary != oldPrimary {
                if let target, r.primary != target { break }
                // The new primary opens the epoch; this (old) primary learns of it through Replica Create.
                if await epochOpen(id, primary: r.primary) {
                    return .ok(message: "\(name) switched over to \(self.name(of: r.primary)); epoch \(r.epoch.id.short) is open")
                }
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return .error(ErrorReply(code: "failover-timeout", message: "switchover of \(name) did not complete within \(Int(Self.failoverTimeoutSeconds)) s; see 'ketchctl get epoch' and the node logs"))
    }

    /// Asks the new primary whether its epoch is open.
    private func epochOpen(_ id: ReplicaID, primary: ServerID) async -> Bool {
        if primary == identity.serverID { return core.status(now: MonotonicClock.now()).first { $0.replica == id }?.epoch?.state == .open }
        guard let endpoint = membership.members[primary]?.record.apiEndpoint,
              let client = try? await APIClient.connect(to: endpoint, secret: secret, timeout: .seconds(1)) else { return false }
        defer { Task { await client.close() } }
        guard case .resources(let list)? = try? await client.request(.get(kind: .replica, id: id.rawValue), timeout: .seconds(2)),
              let attrs = list.data.first?.attributes else { return false }
        return attrs["epochState"] == .string("open") && attrs["primary"] == .string(name(of: primary))
    }

    func serverID(named s: String) -> ServerID? {
        if s == config.name || s == identity.serverID.rawValue { return identity.serverID }
        return membership.others.first { $0.record.name == s || $0.record.server.rawValue == s || $0.record.endpoint.addr == s }?.record.server
    }

    /// Core status with this server's own Postgres state filled in from its executor.
    func replicaStatus(now: Instant) -> [ReplicaStatus] {
        core.status(now: now).map { r in
            var r = r
            if let ps = dbStatus[r.replica], let i = r.members.firstIndex(where: { $0.server == identity.serverID }) {
                r.members[i].postgres = ps
            }
            return r
        }
    }

    func replicaResources(_ kind: ResourceKind, now: Instant) -> [Resource] {
        let statuses = replicaStatus(now: now)
        switch kind {
        case .replica:
            return statuses.map { s in
                let mine = s.members.first { $0.server == identity.serverID }
                let members: [JSONValue] = s.members.map { m in
                    var pairs: [(String, JSONValue)] = [("name", .string(name(of: m.server))), ("role", .string(m.role.rawValue))]
                    if let d = m.dataState { pairs.append(("dataState", .string(d.rawValue))) }
                    pairs.append(("server", .string(m.server.rawValue)))
                    return .object(pairs)
                }
                return Resource(attributes: .object([
                    ("dataState", mine?.dataState.map { .string($0.rawValue) } ?? .null),
                    ("dbConfig", .object([("closedPort", .int(Int64(s.closedPort))), ("port", .int(Int64(s.port))),
                                          ("username", .string(core.replicaRecords[s.replica]?.spec.dbConfig.username ?? ""))])),
                    ("epoch", s.epoch.map { .string($0.id.description) } ?? .null),
                    ("epochState", s.epoch.map { .string($0.state.rawValue) } ?? .null),
                    ("id", .string(s.replica.rawValue)),
                    ("members", .array(members)),
                    ("name", .string(s.name)),
                    ("primary", s.primary.map { .string(name(of: $0)) } ?? .null),
                    ("quorumGroupSize", .int(Int64(s.quorumGroupSize))),
                    ("role", mine.map { .string($0.role.rawValue) } ?? .string("spare")),
                ]), id: s.replica.rawValue, type: .replica)
            }
        case .epoch:
            return statuses.flatMap { s -> [Resource] in
                var out: [Resource] = []
                for (e, which) in [(s.epoch, "current"), (s.priorEpoch, "prior")] {
                    guard let e else { continue }
                    var pairs: [(String, JSONValue)] = [
                        ("dataQuorum", .array(e.dataQuorum.map { .string(name(of: $0)) })),
                        ("id", .string(e.id.description)),
                        ("kind", .string(which)),
                    ]
                    if which == "current", let l = s.lease {
                        pairs.append(("lease", .object([("holder", l.holder.map { .string(name(of: $0)) } ?? .null),
                                                        ("remainingMs", .int(l.remainingMs))])))
                    }
                    pairs += [("quorumGroup", .array(e.quorumGroup.map { .string(name(of: $0)) })),
                              ("replica", .string(s.name)), ("state", .string(e.state.rawValue))]
                    if let succ = e.successor { pairs.append(("successor", .string(succ.description))) }
                    out.append(Resource(attributes: .object(pairs), id: e.id.description, type: .epoch))
                }
                return out
            }
        case .dbmgr:
            return statuses.compactMap { s -> Resource? in
                guard let ps = s.members.first(where: { $0.server == identity.serverID })?.postgres ?? dbStatus[s.replica] else { return nil }
                var pairs: [(String, JSONValue)] = [("dataDir", .string(config.dataDirectory + "/" + s.replica.rawValue))]
                if let e = ps.error { pairs.append(("error", .string(e))) }
                if let b = ps.lagBytes { pairs.append(("lagBytes", .int(b))) }
                if let t = ps.lagSeconds { pairs.append(("lagSeconds", .double(t))) }
                if let l = ps.lsn { pairs.append(("lsn", .string(l))) }
                pairs += [("port", ps.port.map { .int(Int64($0)) } ?? .null), ("replica", .string(s.name))]
                if let r = ps.replayLSN { pairs.append(("replayLsn", .string(r))) }
                pairs.append(("state", .string(ps.state)))
                return Resource(attributes: .object(pairs), id: s.replica.rawValue, type: .dbmgr)
            }
        default:
            return []
        }
    }
}
