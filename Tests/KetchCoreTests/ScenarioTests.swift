import Foundation
import KetchCore
import KetchShared
import Testing

/// Scenario tests: each `Scenarios/*.txt` holds a script, a `---` line, and the expected
/// transcript (notes and database actions of every server). Regenerate after an intended
/// change with `KETCH_REGENERATE_SCENARIOS=1 swift test --filter scenario`, then read the diff.
private let scenarioDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scenarios")

private func scenarioFiles() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: scenarioDir.path)) ?? [])
        .filter { $0.hasSuffix(".txt") && $0 != "README.txt" }.sorted()
}

struct ScenarioError: Error, CustomStringConvertible {
    var line: String
    var message: String
    var description: String { "scenario line '\(line)': \(message)" }
}

func runScenario(_ script: [String]) throws -> [String] {
    var cluster: ScenarioCluster?
    for raw in script {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { continue }
        var words = line.split(separator: " ").map(String.init)
        let verb = words.removeFirst()
        func server(_ name: String) throws -> Int {
            guard let c = cluster, let i = c.index(name) else { throw ScenarioError(line: line, message: "unknown server \(name)") }
            return i
        }
        func option(_ key: String) -> String? { words.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } }
        func after(_ key: String) -> String? { words.firstIndex(of: key).flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil } }
        if verb == "servers" {
            guard let n = words.first.flatMap(Int.init), (1...9).contains(n) else { throw ScenarioError(line: line, message: "servers N (1-9)") }
            cluster = ScenarioCluster(servers: n)
            continue
        }
        guard var c = cluster else { throw ScenarioError(line: line, message: "start with 'servers N'") }
        c.transcript.append("> \(line)")
        switch verb {
        case "create":
            let at = try server(after("at") ?? "")
            let spec = ReplicaSpec(name: "db-\(words[0])", quorumGroupSize: Int(option("size") ?? "3") ?? 3,
                                   dbConfig: .init(username: "u", password: "p", port: 5432, closedPort: 5433),
                                   asyncMembers: option("async").flatMap(Int.init), homeServer: option("home"))
            c.feed(at, .command(.createReplica(ReplicaID(words[0]), spec), now: c.instant))
        case "run":
            guard let ms = words.first.flatMap(Int64.init) else { throw ScenarioError(line: line, message: "run MILLISECONDS") }
            _ = c.run(until: c.now + ms * 1_000_000)
        case "run-until":
            let who = words[0]
            let text = words.dropFirst().joined(separator: " ")
            let found = c.run(until: c.now + 30_000_000_000) { $0.contains("ms \(who) ") && $0.contains(text) }
            if !found { c.transcript.append("(not reached within 30s)") }
        case "isolate": c.nodes[try server(words[0])].isolated = true
        case "heal": c.nodes[try server(words[0])].isolated = false
        case "fail-db":
            // The replica's Postgres on that server exits (e.g. a promote that cannot reach a
            // consistent state): the database is down and the node reports the failure.
            let i = try server(after("at") ?? "")
            let id = ReplicaID(words[0])
            c.nodes[i].primaryOf.remove(id)
            c.nodes[i].following[id] = nil
            c.log("\(c.nodes[i].id) db \(id) FAILED")
            c.feed(i, .database(.failed(id, message: "WAL ends before consistent recovery point"), now: c.instant))
        case "stall-db", "unstall-db":
            // The server's Postgres stops keeping up (or catches up again): its primary no longer
            // reports it caught up, as when a clone or rewind takes longer than a lease.
            let i = try server(words.first ?? "")
            if verb == "stall-db" { c.stalledDatabases.insert(i) } else { c.stalledDatabases.remove(i) }
        case "suspect", "trust":
            guard words.count == 2 else { throw ScenarioError(line: line, message: "\(verb) sX sY (sX's failure detector about sY)") }
            c.suspect(try server(words[0]), try server(words[1]), verb == "suspect")
        case "writable":
            guard let r = words.first else { throw ScenarioError(line: line, message: "writable R") }
            c.transcript.append("writable \(r): \(c.writable(ReplicaID(r)))")
        case "crash": c.crash(try server(words[0]))
        case "restart": c.restart(try server(words[0]), reboot: false)
        case "reboot": c.restart(try server(words[0]), reboot: true)
        case "switchover":
            let at = try server(after("at") ?? "")
            c.feed(at, .command(.switchover(ReplicaID(words[0]), to: after("to").map(ServerID.init)), now: c.instant))
        case "delete":
            c.feed(try server(after("at") ?? ""), .command(.deleteReplica(ReplicaID(words[0])), now: c.instant))
        case "serving":
            let id = ReplicaID(words[0])
            let who = c.nodes.filter { $0.core?.isServing(id) ?? false }.map(\.id.rawValue)
            c.transcript.append("serving \(id): [\(who.joined(separator: ","))]")
        case "status":
            let i = try server(after("at") ?? "")
            guard let s = c.nodes[i].core?.status(now: c.instant).first(where: { $0.replica.rawValue == words[0] }) else {
                c.transcript.append("status \(words[0]) at \(c.nodes[i].id): none")
                break
            }
            let members = s.members.map { "\($0.server)=\($0.role.rawValue)/\($0.dataState?.rawValue ?? "-")" }.joined(separator: " ")
            c.transcript.append("status \(words[0]) at \(c.nodes[i].id): epoch \(s.epoch.map { "\($0.id) \($0.state.rawValue)" } ?? "-") primary \(s.primary?.rawValue ?? "-") lease \(s.lease?.holder?.rawValue ?? "-") members \(members)")
        default:
            throw ScenarioError(line: line, message: "unknown command \(verb)")
        }
        cluster = c
    }
    return cluster?.transcript ?? []
}

@Test(arguments: scenarioFiles())
func scenario(_ name: String) throws {
    let url = scenarioDir.appendingPathComponent(name)
    let text = try String(contentsOf: url, encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let cut = lines.firstIndex(of: "---") ?? lines.count
    let script = Array(lines[..<cut])
    let expected = cut < lines.count ? lines[(cut + 1)...].filter { !$0.isEmpty } : []
    let actual = try runScenario(script)
    if ProcessInfo.processInfo.environment["KETCH_REGENERATE_SCENARIOS"] == "1" {
        try (script + ["---"] + actual).joined(separator: "\n").appending("\n").write(to: url, atomically: true, encoding: .utf8)
        return
    }
    #expect(!actual.isEmpty)
    for (i, pair) in zip(actual, expected).enumerated() where pair.0 != pair.1 {
        Issue.record("\(name): transcript line \(i + 1) differs\n  expected: \(pair.1)\n  actual:   \(pair.0)\nregenerate with KETCH_REGENERATE_SCENARIOS=1 if intended")
        break
    }
    #expect(actual.count == expected.count, "\(name): \(actual.count) transcript lines, expected \(expected.count)")
}
