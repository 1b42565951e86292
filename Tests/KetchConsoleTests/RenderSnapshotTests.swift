import KetchConsole
import KetchShared
import Testing

/// The four fixture states the issue names, plus the detail view, dialogs and fallbacks.
enum Scenario: String, CaseIterable, CustomStringConvertible {
    case healthy, failover, memberDown = "member-down", lagHigh = "lag-high"
    var description: String { rawValue }

    var model: ConsoleModel {
        switch self {
        case .healthy: return Fixture.model(ticks: 3)
        case .memberDown:
            return Fixture.model(silent: ["server3"], health: ["server3": .dead], ticks: 5)
        case .lagHigh:
            return Fixture.model(ticks: 12, dbsAt: { i in
                var dbs = Fixture.healthyDBs()
                dbs[0].lag["server2"] = (Int64(i + 1) * 4_000_000, Double(i + 1) * 0.6)
                dbs[0].lag["server3"] = (Int64(i % 3) * 200_000, 0.3)
                return dbs
            })
        case .failover: return failoverInProgress()
        }
    }

    /// mydb1 failing over from server1 to server2: chosen, confirmed, the node reporting progress,
    /// and the feeds already showing the new epoch (not yet open) with server2 promoting.
    func failoverInProgress() -> ConsoleModel {
        var r = Fixture.run(ticks: 2)
        r.key(.character("f"))
        r.key(.enter)
        r.key(.character("y"))
        r.advance(ms: 300)
        r.step(.controlProgress(request: 1, message: "closing epoch 5@5a1c0e2f"))
        r.step(.controlProgress(request: 1, message: "server2 caught up at 0/3A05F2C8"))
        var db = Fixture.healthyDBs()[0]
        db.epochSeq = 6; db.epochState = .new; db.primary = "server2"; db.leaseLeftMs = 2900
        db.members = [("server2", .primary, .inSync), ("server1", .sync, .catchUp), ("server3", .async, .catchUp)]
        db.pgState = ["server2": "promoting", "server1": "fenced"]
        db.lag = ["server1": (0, 0), "server3": (262_144, 0.8)]
        r.advance(ms: 400)
        for n in ["server1", "server2", "server3"] {
            r.delta(n, .replica(Fixture.replicaStatus(db, reporter: n)))
            r.delta(n, .event(ClusterEvent(atUnixMs: r.now.wallUnixMs, kind: .failover, replica: Fixture.mydb1,
                                           text: "epoch 6 proposed: server2 primary")))
        }
        r.step(.controlProgress(request: 1, message: "epoch 6@7e2d9a40 accepted by a majority"))
        r.step(.tick)
        return r.model
    }
}

let sizes = [GridSize(width: 40, height: 10), GridSize(width: 80, height: 24), GridSize(width: 160, height: 50)]

@Suite struct RenderSnapshotTests {
    @Test(arguments: Scenario.allCases, sizes)
    func overview(_ scenario: Scenario, _ size: GridSize) {
        let grid = ConsoleRenderer.render(scenario.model, size: size)
        #expect(grid.size == size)
        assertSnapshot(grid.text, named: "\(scenario)-\(size)")
    }

    @Test(arguments: [Scenario.healthy, .lagHigh, .memberDown], sizes)
    func detail(_ scenario: Scenario, _ size: GridSize) {
        let (m, _) = ConsoleModel.update(scenario.model, .key(.enter), now: scenario.model.now)
        guard case .detail = m.screen else { Issue.record("Enter on a database should open its detail"); return }
        assertSnapshot(ConsoleRenderer.render(m, size: size).text, named: "detail-\(scenario)-\(size)")
    }

    @Test func helpOverlay() {
        let (m, _) = ConsoleModel.update(Scenario.healthy.model, .key(.character("?")), now: Fixture.t0.adding(ms: 3000))
        let text = ConsoleRenderer.render(m, size: GridSize(width: 80, height: 24)).text
        for (keys, action) in ConsoleRenderer.keyHelp {
            #expect(text.contains(action), "help lists \(keys)")
        }
        assertSnapshot(text, named: "help-80x24")
    }

    @Test func createFormWithErrors() {
        var m = Scenario.healthy.model
        let now = m.now
        func key(_ k: ConsoleKey) { m = ConsoleModel.update(m, .key(k), now: now).0 }
        key(.character("c"))
        for c in "9bad" { key(.character(c)) }
        key(.tab); key(.backspace); key(.character("4"))
        key(.tab); key(.tab)
        for _ in 0..<4 { key(.backspace) }
        for c in "5432" { key(.character(c)) }
        key(.enter)
        let text = ConsoleRenderer.render(m, size: GridSize(width: 80, height: 24)).text
        #expect(text.contains("group size must be 1, 3, 5 or 7"))
        #expect(text.contains("closed port must differ from the service port"))
        assertSnapshot(text, named: "create-errors-80x24")
    }

    @Test func asciiMonochrome() {
        let grid = ConsoleRenderer.render(Scenario.memberDown.model, size: GridSize(width: 80, height: 24), options: .plain)
        #expect(grid.cells.allSatisfy { $0.character.isASCII })
        #expect(grid.cells.allSatisfy { $0.style.color == .none })
        assertSnapshot(grid.text, named: "ascii-member-down-80x24")
    }

    @Test(arguments: [GridSize(width: 0, height: 0), GridSize(width: 10, height: 3), GridSize(width: 20, height: 4), GridSize(width: 300, height: 5)])
    func tinyAndOddSizesDoNotCrash(_ size: GridSize) {
        for s in Scenario.allCases {
            let grid = ConsoleRenderer.render(s.model, size: size)
            #expect(grid.cells.count == size.width * size.height)
        }
    }
}
