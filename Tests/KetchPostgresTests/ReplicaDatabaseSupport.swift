import Foundation
import KetchCore
@testable import KetchNode
import KetchShared
import Logging

/// What a `ReplicaDatabase` under test reports, in order.
actor DatabaseReports {
    var all: [DatabaseReport] = []
    func add(_ r: DatabaseReport) { all.append(r) }
    func has(_ pred: (DatabaseReport) -> Bool) -> Bool { all.contains(where: pred) }
    var promotions: Int { all.filter { if case .promoted = $0 { true } else { false } }.count }
    var initialised: Bool { has { if case .initialised = $0 { true } else { false } } }
    var failures: [String] { all.compactMap { if case .failed(_, let m) = $0 { m } else { nil } } }
    /// Promoted, or failed.
    var settled: Bool { promotions > 0 || !failures.isEmpty }
}

/// A real copy on lab server 1, initialised (a primary, closed to clients), with its reports.
/// `address` resolves other servers for follows and clones.
func initialisedDatabase(_ lab: PostgresLab, name: String, port: Int, closedPort: Int,
                         address: @escaping @Sendable (ServerID) async -> String? = { _ in nil }) async throws -> (ReplicaDatabase, DatabaseReports)? {
    let (dir, listen) = try lab.server(1)
    let spec = ReplicaSpec(name: name + "db", quorumGroupSize: 1,
                           dbConfig: .init(username: name + "user", password: "pw-\(UUID().uuidString.prefix(8))", port: port, closedPort: closedPort))
    let reports = DatabaseReports()
    let db = try ReplicaDatabase(replica: ReplicaID(name), spec: spec, me: ServerID("s1"), listenAddress: listen,
                                 ketchDataDirectory: dir, tools: lab.tools, replication: lab.replication,
                                 logger: Logger(label: name + "-test"), address: address,
                                 report: { await reports.add($0) })
    lab.track(await db.instance)
    await db.start(resuming: false)
    db.performSoon(.initialise(spec))
    guard await eventually(within: 120, { await reports.initialised }) else { return nil }
    return (db, reports)
}

/// `initialisedDatabase`, then opened to clients under a 30 s lease; nil if either never happened.
func openDatabase(_ lab: PostgresLab, name: String, port: Int, closedPort: Int) async throws -> (ReplicaDatabase, DatabaseReports)? {
    guard let (db, reports) = try await initialisedDatabase(lab, name: name, port: port, closedPort: closedPort) else { return nil }
    db.performSoon(.openToClients(until: MonotonicClock.now() + .seconds(30)))
    guard await eventually(within: 60, { await db.state == "open" }) else { return nil }
    return (db, reports)
}

/// Whether the copy serves again with its guard armed, within 60 s.
func reopened(_ db: ReplicaDatabase) async -> Bool {
    await eventually(within: 60) {
        let text = await db.leaseGuard.current() ?? ""
        let state = await db.state
        return state == "open" && text.hasPrefix("open")
    }
}

/// Polls `condition` until it holds or `seconds` pass. Returns whether it held.
func eventually(within seconds: Double, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        if await condition() { return true }
        if Date() >= deadline { return false }
        try? await Task.sleep(nanoseconds: 50_000_000)
    }
}
