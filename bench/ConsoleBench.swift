// Frame time of the console for bench/console: 64 members × 200 databases, render + paint
// into a buffer at 160×50, with heartbeats arriving between frames as they would live.
import Glibc
import KetchConsole
import KetchShared

@main
struct ConsoleBench {
    static func clockNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func main() {
        let memberCount = 64, dbCount = 200, frames = 200
        let names = (1...memberCount).map { "server\($0)" }
        let ids = names.map { ServerID("bench-\($0)-0000-0000-0000-000000000000") }
        let t0 = ConsoleTime(monotonic: Instant(nanoseconds: 1_000_000_000_000), wallUnixMs: 1_790_000_000_000)
        let members = names.indices.map { i in
            MemberStatus(server: ids[i], name: names[i], endpoint: Endpoint(addr: "10.0.\(i / 250).\(i % 250 + 1)", port: 7459),
                         apiEndpoint: Endpoint(addr: "10.0.\(i / 250).\(i % 250 + 1)", port: 7460), health: .alive, incarnation: 1, lastHeardMs: 100)
        }
        func replica(_ d: Int) -> ReplicaStatus {
            let group = (0..<3).map { (d + $0 * 7) % memberCount }
            let epoch = EpochStatus(id: EpochID(sequence: UInt64(d % 9 + 1), server: ids[group[0]]), state: .open,
                                    quorumGroup: group.map { ids[$0] }, dataQuorum: group.prefix(2).map { ids[$0] })
            let roles: [MemberRole] = [.primary, .sync, .async]
            return ReplicaStatus(
                replica: ReplicaID("db-\(d)"), name: "db\(d)", quorumGroupSize: 3, port: 20000 + d * 2, closedPort: 20001 + d * 2,
                primary: ids[group[0]], epoch: epoch, priorEpoch: nil,
                lease: LeaseStatus(epoch: epoch.id, holder: ids[group[0]], remainingMs: 2500, durationMs: 3000, ballot: nil),
                members: group.enumerated().map { k, m in
                    ReplicaMemberStatus(server: ids[m], role: roles[k], dataState: k == 2 ? .catchUp : .inSync,
                                        postgres: PostgresStatus(state: k == 0 ? "primary" : "standby", port: 20000 + d * 2,
                                                                 lsn: "0/3000060", replayLSN: "0/3000000", lagBytes: Int64(k * 4096), lagSeconds: Double(k) * 0.1))
                })
        }
        let replicas = (0..<dbCount).map(replica)
        var model = ConsoleModel(endpoints: names, now: t0)
        var sequence = [Int](repeating: 0, count: memberCount)
        for i in names.indices {
            let mine = replicas.filter { r in r.members.contains { $0.server == ids[i] } }
            let status = NodeStatus(server: ids[i], name: names[i], members: members, replicas: mine, events: [])
            model = ConsoleModel.update(model, .feed(endpoint: names[i], event: .message(.snapshot(sequence: 0, status: status))), now: t0).0
        }
        let size = GridSize(width: 160, height: 50)
        var previous: TextGrid?
        var sink = 0
        var renderNs: Int64 = 0, updateNs: Int64 = 0, painted = 0
        for f in 0..<frames {
            let now = t0.adding(ms: Int64(f) * 250)
            let u0 = clockNs()
            // Live, every member heartbeats once a second and the console ticks four times a second:
            // a quarter of the members' heartbeats land before each frame.
            for m in stride(from: f % 4, to: memberCount, by: 4) {
                sequence[m] += 1
                model = ConsoleModel.update(model, .feed(endpoint: names[m], event: .message(.heartbeat(sequence: UInt64(sequence[m]), atUnixMs: now.wallUnixMs))), now: now).0
            }
            model = ConsoleModel.update(model, .tick, now: now).0
            let r0 = clockNs()
            let grid = ConsoleRenderer.render(model, size: size)
            painted += RowPainter.paint(grid, over: previous) { _, x, scalars, _ in sink &+= x &+ scalars.count }
            previous = grid
            let r1 = clockNs()
            updateNs += r0 - u0
            renderNs += r1 - r0
        }
        func ms(_ ns: Int64) -> String {
            let v = Double(ns) / Double(frames) / 1_000_000
            return String(Int((v * 100).rounded()) / 100) + "." + String(Int((v * 100).rounded()) % 100 / 10) + String(Int((v * 100).rounded()) % 10)
        }
        print("frame_ms=\(ms(renderNs)) update_ms=\(ms(updateNs)) rows_painted_per_frame=\(painted / frames) members=\(memberCount) databases=\(model.cluster.databases.count) sink=\(sink % 10)")
    }
}
