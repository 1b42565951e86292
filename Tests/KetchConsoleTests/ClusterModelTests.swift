import KetchConsole
import KetchShared
import Testing

@Suite struct ClusterModelTests {
    func event(_ text: String, at ms: Int64 = 0) -> FeedDelta {
        .event(ClusterEvent(atUnixMs: Fixture.t0.wallUnixMs + ms, kind: .replica, replica: nil, text: text))
    }

    @Test func snapshotsFromEveryMemberMergeIntoOneView() {
        let m = Fixture.model(ticks: 1)
        #expect(m.cluster.members.map(\.name) == Fixture.names)
        #expect(m.cluster.databases.map(\.name) == ["mydb1", "mydb2", "orders"])
        let mydb1 = m.cluster.database(named: "mydb1")!
        #expect(mydb1.primary == Fixture.id("server1"))
        #expect(mydb1.members.map(\.name) == ["server1", "server2", "server3"])
        // Each member's Postgres figures come from that member's own feed.
        #expect(mydb1.members.allSatisfy { $0.selfReported })
        #expect(m.cluster.members[1].holdings.map(\.database) == ["mydb1", "mydb2"])
        #expect(m.cluster.members.allSatisfy { $0.health == .alive && $0.votes == 4 })
    }

    @Test func outOfOrderDeltasWaitForTheGapAndDuplicatesAreDropped() {
        var r = Fixture.run(ticks: 0)
        let base = r.sequences["server1"]!
        func send(_ seq: UInt64, _ change: FeedDelta) {
            r.step(.feed(endpoint: "server1", event: .message(.delta(sequence: seq, change: change))))
        }
        send(base + 2, event("second", at: 2))
        #expect(!r.model.cluster.events.contains { $0.text == "second" }, "an early delta waits for the one before it")
        send(base + 1, event("first", at: 1))
        let texts = r.model.cluster.events.map(\.text)
        #expect(texts.suffix(2) == ["first", "second"])
        send(base + 1, event("first again", at: 3))
        send(base + 2, event("second again", at: 4))
        #expect(!r.model.cluster.events.contains { $0.text.hasSuffix("again") }, "duplicates by sequence are dropped")
        #expect(r.model.cluster.reporters["server1"]?.sequence == base + 2)
    }

    @Test func aGapThatDoesNotFillAsksForAFreshSnapshot() {
        var r = Fixture.run(ticks: 0)
        let base = r.sequences["server2"]!
        r.step(.feed(endpoint: "server2", event: .message(.delta(sequence: base + 5, change: event("far ahead")))))
        r.commands = []
        r.advance(ms: 1000)
        r.step(.feed(endpoint: "server2", event: .message(.heartbeat(sequence: base, atUnixMs: r.now.wallUnixMs))))
        r.step(.tick)
        #expect(r.commands.isEmpty)
        r.advance(ms: 1500)
        r.step(.feed(endpoint: "server2", event: .message(.heartbeat(sequence: base, atUnixMs: r.now.wallUnixMs))))
        r.step(.tick)
        #expect(r.commands == [.resubscribe(endpoint: "server2")])
        // The fresh snapshot starts a new sequence.
        r.step(.feed(endpoint: "server2", event: .message(.snapshot(sequence: 1, status: Fixture.nodeStatus("server2", dbs: Fixture.healthyDBs())))))
        #expect(r.model.cluster.reporters["server2"]?.sequence == 1)
        #expect(r.model.cluster.reporters["server2"]?.pending.isEmpty == true)
    }

    @Test func aSilentMemberBecomesUnreachableAfterTwoSecondsAndSaysForHowLong() {
        var r = Fixture.run(ticks: 0)
        func heartbeatAllBut(_ silent: String) {
            for n in Fixture.names where n != silent {
                let wall = r.now.wallUnixMs
                r.send(n) { .heartbeat(sequence: $0, atUnixMs: wall) }
            }
            r.step(.tick)
        }
        r.advance(ms: 1900)
        heartbeatAllBut("server3")
        #expect(r.model.cluster.reporters["server3"]?.isLive == true)
        r.advance(ms: 200)
        heartbeatAllBut("server3")
        guard case .unreachable(let since, _) = r.model.cluster.reporters["server3"]?.link else {
            Issue.record("server3 should be unreachable after 2.1 s of silence"); return
        }
        #expect(since == Fixture.t0.monotonic)
        #expect(r.model.cluster.events.last?.text == "server3 unreachable (silent for 2s)")
        let row = r.model.cluster.members.first { $0.name == "server3" }!
        guard case .unreachable = row.link else { Issue.record("the member row shows the link as unreachable"); return }
        let text = ConsoleRenderer.render(r.model, size: GridSize(width: 100, height: 30)).text
        #expect(text.contains("unreachable 2.1s"))
        // mydb1's view now marks server3 as not reachable.
        #expect(r.model.cluster.database(named: "mydb1")?.members.first { $0.name == "server3" }?.reachable == false)
        // It comes back with its next message.
        r.advance(ms: 500)
        r.send("server3") { .heartbeat(sequence: $0, atUnixMs: 0) }
        #expect(r.model.cluster.reporters["server3"]?.isLive == true)
        #expect(r.model.cluster.events.last?.text == "server3 reachable again")
    }

    @Test func aMemberNeverReachedShowsUnreachableByItsConfiguredName() {
        var m = ConsoleModel(endpoints: ["nohost1", "nohost2"], now: Fixture.t0)
        m = ConsoleModel.update(m, .feed(endpoint: "nohost1", event: .disconnected(reason: "connection refused")), now: Fixture.t0.adding(ms: 100)).0
        m = ConsoleModel.update(m, .tick, now: Fixture.t0.adding(ms: 1000)).0
        #expect(m.cluster.members.allSatisfy { if case .connecting = $0.link { true } else { false } })
        m = ConsoleModel.update(m, .tick, now: Fixture.t0.adding(ms: 2500)).0
        #expect(m.cluster.members.map(\.name) == ["nohost1", "nohost2"])
        #expect(m.cluster.members.allSatisfy { if case .unreachable = $0.link { true } else { false } })
        let text = ConsoleRenderer.render(m, size: GridSize(width: 80, height: 24)).text
        #expect(text.contains("nohost1") && text.contains("unreachable 2.5s"))
    }

    @Test func healthIsTheMajorityOfReachableReportersWithTiesGoingWorse() {
        var r = Fixture.run(ticks: 0)
        // server1 and server2 say server4 is suspect, server3 and server4 say alive: a tie → suspect.
        for n in ["server1", "server2"] { r.delta(n, .member(Fixture.memberStatus("server4", health: .suspect))) }
        #expect(r.model.cluster.members.first { $0.name == "server4" }?.health == .suspect)
        r.delta("server3", .member(Fixture.memberStatus("server4", health: .dead)))
        let row = r.model.cluster.members.first { $0.name == "server4" }!
        #expect(row.health == .suspect && row.agreeing == 2 && row.votes == 4)
    }

    @Test func eventsAreMergedDeduplicatedOrderedAndBounded() {
        var r = Fixture.run(ticks: 0)
        // The snapshot's events came from all four members but show once.
        #expect(r.model.cluster.events.count == Fixture.baseEvents.count)
        r.delta("server2", .event(ClusterEvent(atUnixMs: Fixture.t0.wallUnixMs + 500, kind: .epoch, replica: nil, text: "late")))
        r.delta("server1", .event(ClusterEvent(atUnixMs: Fixture.t0.wallUnixMs + 100, kind: .epoch, replica: nil, text: "early")))
        r.delta("server3", .event(ClusterEvent(atUnixMs: Fixture.t0.wallUnixMs + 900, kind: .epoch, replica: nil, text: "late")))
        #expect(r.model.cluster.events.map(\.text).suffix(2) == ["early", "late"])
        for i in 0..<(ClusterModel.eventLimit + 20) {
            r.delta("server4", .event(ClusterEvent(atUnixMs: Fixture.t0.wallUnixMs + 10_000 + Int64(i), kind: .lease, replica: nil, text: "e\(i)")))
        }
        #expect(r.model.cluster.events.count == ClusterModel.eventLimit)
        #expect(r.model.cluster.events.last?.text == "e\(ClusterModel.eventLimit + 19)")
    }

    @Test func theNewestEpochWinsWhenMembersDisagree() {
        var r = Fixture.run(ticks: 0)
        var db = Fixture.healthyDBs()[0]
        db.epochSeq = 6; db.primary = "server2"
        db.members = [("server2", .primary, .inSync), ("server1", .sync, .inSync), ("server3", .async, .catchUp)]
        r.delta("server2", .replica(Fixture.replicaStatus(db, reporter: "server2")))
        let merged = r.model.cluster.database(named: "mydb1")!
        #expect(merged.primary == Fixture.id("server2"))
        #expect(merged.epoch?.id.sequence == 6)
        #expect(merged.disagreeing == ["server1", "server3"])
    }

    /// Issue 22: a server left out of the group after whole-cluster restarts kept its closed
    /// epoch, and the `!` fired for good. A reporter that says its copy is on a dead branch is
    /// not a member that disagrees; one that does not say so still is.
    @Test func aStaleCopysOldViewIsNotADisagreement() {
        var r = Fixture.run(ticks: 0)
        var old = Fixture.healthyDBs()[0]
        old.epochSeq = 1; old.primary = "server2"
        old.members = [("server2", .primary, .inSync), ("server1", .sync, .inSync), ("server3", .async, .catchUp)]
        var stale = Fixture.replicaStatus(old, reporter: "server2")
        stale.stale = true
        r.delta("server2", .replica(stale))
        #expect(r.model.cluster.database(named: "mydb1")!.disagreeing.isEmpty)
        stale.stale = nil
        r.delta("server2", .replica(stale))
        #expect(r.model.cluster.database(named: "mydb1")!.disagreeing == ["server2"])
    }

    @Test func leaseRemainingAgesBetweenReportsAndHistoriesAreSampledEverySecond() {
        let m = Fixture.model(ticks: 3)
        let db = m.cluster.database(named: "mydb1")!
        #expect(db.leaseRemainingMs(at: m.now.monotonic) == 2400)
        #expect(db.leaseRemainingMs(at: m.now.monotonic + .milliseconds(1000)) == 1400)
        #expect(m.cluster.leaseHistory[Fixture.mydb1] == ["server1", "server1", "server1"])
        #expect(m.cluster.lagHistory[Fixture.mydb1]?[Fixture.id("server3")] == [131_072, 131_072, 131_072])
    }
}

@Suite struct RowPainterTests {
    @Test func onlyChangedRowsArePaintedInStyledRuns() {
        var a = TextGrid(size: GridSize(width: 10, height: 3))
        a.put("abc", x: 0, y: 0)
        a.put("XY", x: 3, y: 0, style: .bold)
        var runs: [(Int, Int, String)] = []
        let first = RowPainter.paint(a, over: nil) { y, x, s, _ in runs.append((y, x, String(String.UnicodeScalarView(s)))) }
        #expect(first == 3)
        #expect(runs.first! == (0, 0, "abc"))
        #expect(runs[1] == (0, 3, "XY"))
        var b = a
        b.put("z", x: 0, y: 2)
        runs = []
        #expect(RowPainter.paint(b, over: a) { y, x, s, _ in runs.append((y, x, String(String.UnicodeScalarView(s)))) } == 1)
        #expect(runs.map(\.0) == [2])
    }
}
