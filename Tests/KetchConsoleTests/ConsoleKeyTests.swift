import KetchConsole
import KetchShared
import Testing

@Suite struct ConsoleKeyTests {
    @Test func navigationPanesDetailAndQuit() {
        var r = Fixture.run(ticks: 1)
        #expect(r.model.focus == .databases)
        r.key(.down); r.key(.character("j"))
        #expect(r.model.selectedDatabase?.name == "orders")
        r.key(.down)
        #expect(r.model.selectedDatabase?.name == "orders", "the selection stops at the last row")
        r.key(.character("k"))
        r.key(.enter)
        #expect(r.model.screen == .detail(Fixture.mydb2))
        r.key(.escape)
        #expect(r.model.screen == .overview)
        r.key(.tab)
        #expect(r.model.focus == .events)
        r.key(.tab)
        #expect(r.model.focus == .members)
        r.key(.backTab)
        #expect(r.model.focus == .events)
        r.key(.character("?"))
        #expect(r.model.overlay == .help)
        r.key(.character("q"))
        #expect(r.model.overlay == .none, "q closes help rather than quitting")
        #expect(r.commands.isEmpty)
        r.key(.character("q"))
        #expect(r.commands == [.quit])
    }

    @Test func filterNarrowsRowsAndEscClearsIt() {
        var r = Fixture.run(ticks: 1)
        r.key(.character("/"))
        for c in "ord" { r.key(.character(c)) }
        #expect(r.model.visibleDatabases.map(\.name) == ["orders"])
        r.key(.enter)
        #expect(!r.model.editingFilter)
        #expect(r.model.selectedDatabase?.name == "orders")
        r.key(.escape)
        #expect(r.model.filter.isEmpty)
        #expect(r.model.visibleDatabases.count == 3)
    }

    @Test func failoverPicksAnInSyncTargetConfirmsAndFollowsUntilTheNewEpochOpens() {
        var r = Fixture.run(ticks: 1)
        r.key(.character("f"))
        guard case .failover(let flow) = r.model.overlay else { Issue.record("f opens the failover dialog"); return }
        // server3 is catching up, so only server2 (and "let the node choose") are offered.
        #expect(flow.targets == ["server2", nil])
        r.key(.enter)
        r.key(.character("n"))
        guard case .failover(let back) = r.model.overlay, back.stage == .pick else { Issue.record("n goes back to the choice"); return }
        r.key(.enter)
        #expect(r.commands.isEmpty, "nothing is sent before confirming")
        r.key(.character("y"))
        #expect(r.commands == [.send(request: 1, .failover(name: "mydb1", to: "server2"))])
        r.step(.controlProgress(request: 1, message: "closing epoch 5"))
        r.advance(ms: 500)
        r.step(.controlReply(request: 1, reply: .ok("failover of mydb1 started")))
        guard case .failover(let waiting) = r.model.overlay, case .waitingForEpoch = waiting.stage else {
            Issue.record("after the reply the console waits for the epoch"); return
        }
        #expect(waiting.progress == ["closing epoch 5", "failover of mydb1 started"])
        var db = Fixture.healthyDBs()[0]
        db.epochSeq = 6; db.primary = "server2"; db.epochState = .new
        db.members = [("server2", .primary, .inSync), ("server1", .sync, .inSync), ("server3", .async, .catchUp)]
        r.delta("server2", .replica(Fixture.replicaStatus(db, reporter: "server2")))
        guard case .failover(let still) = r.model.overlay, case .waitingForEpoch = still.stage else {
            Issue.record("a new epoch that is not open yet is not the end"); return
        }
        db.epochState = .open
        r.delta("server2", .replica(Fixture.replicaStatus(db, reporter: "server2")))
        guard case .failover(let done) = r.model.overlay, case .done(let text) = done.stage else {
            Issue.record("the open epoch with server2 as primary ends the failover"); return
        }
        #expect(text == "mydb1: server2 is primary in epoch 6@7e2d9a40, open")
        r.key(.enter)
        #expect(r.model.overlay == .none)
    }

    @Test func failoverEndsInAClearFailureWhenRefusedOrWhenNoEpochAppears() {
        var r = Fixture.run(ticks: 1)
        r.key(.character("f")); r.key(.enter); r.key(.character("y"))
        r.step(.controlReply(request: 1, reply: .failed("ketch.not-in-sync: server2 is not in sync")))
        guard case .failover(let flow) = r.model.overlay, case .failed(let why) = flow.stage else { Issue.record("refusal shown"); return }
        #expect(why.contains("not in sync"))
        #expect(r.model.cluster.events.last?.kind == .error)
        r.key(.escape)
        r.key(.character("f")); r.key(.enter); r.key(.character("y"))
        r.step(.controlReply(request: 2, reply: .ok("started")))
        r.advance(ms: 31_000)
        r.step(.tick)
        guard case .failover(let late) = r.model.overlay, case .failed(let timeout) = late.stage else { Issue.record("timeout shown"); return }
        #expect(timeout.contains("no new open epoch"))
    }

    @Test func failoverIsRefusedLocallyWithoutAnInSyncStandby() {
        var r = Fixture.run(ticks: 1)
        r.key(.down); r.key(.down)
        r.key(.character("f"))
        #expect(r.model.overlay == .none)
        #expect(r.model.status == "orders has no in-sync standby to fail over to")
    }

    @Test func deleteAsksFirstAndKeepsData() {
        var r = Fixture.run(ticks: 1)
        r.key(.down)
        r.key(.character("d"))
        r.key(.character("x"))
        #expect(r.commands.isEmpty)
        r.key(.character("y"))
        #expect(r.commands == [.send(request: 1, .deleteReplica(name: "mydb2"))])
        r.step(.controlReply(request: 1, reply: .ok("")))
        guard case .delete(let flow) = r.model.overlay, case .done(let text) = flow.stage else { Issue.record("delete done"); return }
        #expect(text.contains("data is kept"))
        r.key(.character("d"))
        r.key(.escape)
        #expect(r.model.overlay == .none)
    }

    @Test func createFormSendsAValidSpecOrLoadsYAML() {
        var r = Fixture.run(ticks: 1)
        r.key(.character("c"))
        for c in "mydb9" { r.key(.character(c)) }
        r.key(.down); r.key(.down); r.key(.down); r.key(.down)
        for c in "app" { r.key(.character(c)) }
        r.key(.tab)
        for c in "s3cret" { r.key(.character(c)) }
        let text = ConsoleRenderer.render(r.model, size: GridSize(width: 80, height: 24)).text
        #expect(!text.contains("s3cret"), "the password is never drawn")
        #expect(text.contains("******"))
        r.key(.enter)
        let spec = ReplicaSpec(name: "mydb9", quorumGroupSize: 3, dbConfig: .init(username: "app", password: "s3cret", port: 5432, closedPort: 5433))
        #expect(r.commands == [.send(request: 1, .createReplica(spec: spec))])
        r.step(.controlReply(request: 1, reply: .failed("port 5432 is used by mydb1")))
        guard case .create(let form) = r.model.overlay else { Issue.record("the form stays open on failure"); return }
        #expect(form.failure == "port 5432 is used by mydb1")
        r.key(.escape)

        r.key(.character("c"))
        r.key(.up)
        for c in "/tmp/spec.yaml" { r.key(.character(c)) }
        r.commands = []
        r.key(.enter)
        #expect(r.commands == [.loadSpec(path: "/tmp/spec.yaml")])
        r.step(.specLoaded(path: "/tmp/spec.yaml", result: .loaded(spec)))
        guard case .create(let loaded) = r.model.overlay else { Issue.record("form stays open to review"); return }
        #expect(loaded[.name] == "mydb9" && loaded[.password] == "s3cret")
        r.key(.enter)
        #expect(r.commands.last == .send(request: 2, .createReplica(spec: spec)))
    }
}
