import Foundation
import KetchCore
import KetchPostgres
import KetchShared
import KetchStore
import KetchWire
import Logging

/// Carrying out the protocol core's outputs, in the order the core requires:
/// persist (durably) → send → database → log.
extension Node {
    static let coreStoreKind = "core"

    static func restoreCore(config: NodeConfig, identity: RuntimeIdentity, store: KetchStore) throws -> KetchCore {
        let decoder = JSONDecoder()
        var records: [PersistRecord] = []
        for r in try store.all(kind: coreStoreKind) {
            do { records.append(try decoder.decode(PersistRecord.self, from: r.value)) } catch {
                throw NodeError("store-corrupt", "record '\(r.key)' in \(config.dataDirectory)/ketch.db cannot be read (\(error)); move the file aside (this server then joins as a new identity); never restore it from a backup: an older ketch.db takes back promises and grants this server's acceptor gave, which can let two servers hold one lease")
            }
        }
        return KetchCore(config: config.core(server: identity.serverID), bootID: MonotonicClock.bootID(), restoring: records)
    }

    /// Feeds one event to the core and carries out what it says.
    func step(_ event: CoreEvent) {
        guard fatalError == nil else { return }
        let out = core.handle(event)
        guard !out.isEmpty else { return }
        // One batch per replica, so a lease grant of one database never waits behind another
        // database's fsync (see `Outbox`); the server-wide records (counters, boot) go first
        // and hold back everything after them.
        struct Part {
            var batch: [StoreWrite] = []
            var sends: [(Endpoint, PeerEnvelope)] = []
            var actions: [(ReplicaDatabase, DatabaseAction, Bool)] = []
            var unpark: [ReplicaDatabase] = []
        }
        var global = Part()
        var parts: [ReplicaID: Part] = [:]
        var order: [ReplicaID] = []
        func part(_ id: ReplicaID, _ change: (inout Part) -> Void) {
            if parts[id] == nil { order.append(id); parts[id] = Part() }
            change(&parts[id]!)
        }
        if !out.persist.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            for record in out.persist {
                var writes: [StoreWrite] = []
                if case .replicaRemoved(let id) = record {
                    writes = [.delete(kind: Self.coreStoreKind, key: record.key), .delete(kind: Self.coreStoreKind, key: "acceptor/\(id.rawValue)")]
                } else if let data = try? encoder.encode(record) {
                    writes = [.put(kind: Self.coreStoreKind, key: record.key, value: data)]
                }
                if let id = record.replica { part(id) { $0.batch += writes } } else { global.batch += writes }
            }
        }
        // What leaves once the records are written, resolved now (the actor's state moves on).
        for (to, message) in out.send {
            guard let endpoint = membership.members[to]?.record.endpoint else { continue }
            part(message.replica) { $0.sends.append((endpoint, PeerEnvelope(from: identity.serverID, message: .ketch(message)))) }
        }
        for command in out.database {
            guard let db = database(for: command.replica) else { continue }
            let epochOpen = core.replicaRecords[command.replica]?.epochOpen ?? false
            part(command.replica) { $0.actions.append((db, command.action, epochOpen)) }
        }
        // A parked copy returns to the service port once this server leads a new epoch past
        // Step 4 (the prior epoch is closed): its standbys must stream from it for Step 5.
        for (id, db) in databases where db.isParked.isSet {
            guard let r = core.replicaRecords[id], r.primary == identity.serverID, !r.epochOpen else { continue }
            let prior = core.status(now: event.now).first { $0.replica == id }?.priorEpoch
            if prior == nil || prior?.state == .closed { part(id) { $0.unpark.append(db) } }
        }
        let durable = out.persistNeedsSync
        let transport = self.transport
        if !global.batch.isEmpty {
            outbox.submit(global.batch, durable: durable, lanes: .all) {}
        }
        for id in order {
            guard let p = parts[id] else { continue }
            outbox.submit(p.batch, durable: durable, lanes: Lanes(replicas: [id])) {
                for (endpoint, envelope) in p.sends { transport.send(envelope, to: endpoint) }
                for (db, action, epochOpen) in p.actions { db.performSoon(action, epochOpen: epochOpen) }
                for db in p.unpark { db.leadingNewEpoch() }
            }
        }
        for note in out.notes {
            if let r = note.replica { counters.count(note.text, replica: r) }
            var meta: Logger.Metadata = [:]
            if let r = note.replica { meta["replica.id"] = .string(r.short) }
            if let e = note.epoch { meta["epoch.id"] = .string(e.short) }
            logger.info("\(note.text)", metadata: meta)
            if note.replica != nil { record(ClusterEvent(atUnixMs: MonotonicClock.unixMilliseconds(), kind: Self.kind(of: note.text), replica: note.replica, text: "\(config.name): \(note.text)")) }
        }
        if !out.notes.isEmpty || !out.database.isEmpty { publish(now: event.now) }
    }

    private static func kind(of text: String) -> ClusterEventKind {
        if text.contains("fenced") || text.contains("serving") { return .lease }
        if text.contains("switchover") { return .switchover }
        if text.contains("Step") || text.contains("epoch") { return .epoch }
        return .replica
    }

    /// The executor of one replica's copy here, made on first use.
    func database(for replica: ReplicaID, resuming: Bool = false) -> ReplicaDatabase? {
        if let db = databases[replica] { return db }
        guard let record = core.replicaRecords[replica] else { return nil }
        let node = self
        do {
            let db = try ReplicaDatabase(
                replica: replica, spec: record.spec, me: identity.serverID, listenAddress: config.memberEndpoint.addr,
                ketchDataDirectory: config.dataDirectory, tools: tools,
                replication: ReplicationCredentials(password: secret.derivedPassword(purpose: "replication/\(replica.rawValue)")),
                keepAside: config.keepAside, postgresStall: config.postgresStallMs == 0 ? nil : .milliseconds(Int64(config.postgresStallMs)), logger: logger,
                address: { server in await node.address(of: server) },
                report: { report in await node.databaseReported(report) })
            databases[replica] = db
            Task { await db.start(resuming: resuming) }
            return db
        } catch {
            logger.error("cannot manage Postgres for replica \(replica.short): \(error)")
            return nil
        }
    }

    func databaseReported(_ report: DatabaseReport) {
        if case .status(let r, let ps) = report { dbStatus[r] = ps }
        if case .failed(let r, let message) = report {
            var ps = dbStatus[r] ?? PostgresStatus(state: "failed")
            ps.state = "failed"
            ps.error = message
            dbStatus[r] = ps
            record(ClusterEvent(atUnixMs: MonotonicClock.unixMilliseconds(), kind: .postgres, replica: r, text: "\(config.name): \(message)"))
        }
        step(.database(report, now: MonotonicClock.now()))
    }

    /// After a restart, bring every copy this server holds back up, closed.
    func resumeDatabases() {
        for id in core.replicaRecords.keys.sorted() {
            _ = database(for: id, resuming: true)
        }
    }
}
