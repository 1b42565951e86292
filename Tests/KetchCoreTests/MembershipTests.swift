import Testing
import KetchShared
@testable import KetchCore

/// An in-memory network of SWIM members on a virtual clock: messages arrive after `latency`,
/// nothing reaches or leaves a stopped member, and a restarted one starts from a fresh state.
private struct SwimNet {
    var nodes: [Membership?]
    var stopped: Set<Int> = []
    var now = Instant.zero
    var inFlight: [(at: Instant, to: Endpoint, msg: MembershipMessage)] = []
    let endpoints: [Endpoint]
    let latency = Span.milliseconds(1)
    let step = Span.milliseconds(10)
    var incarnations: [UInt64]

    init(count: Int) {
        endpoints = (1...count).map { Endpoint(addr: "127.0.2.\($0)", port: 7459) }
        incarnations = Array(repeating: 1, count: count)
        nodes = []
        for i in 0..<count { nodes.append(Self.make(i, endpoints: endpoints, incarnation: 1)) }
    }

    static func id(_ i: Int) -> ServerID { ServerID("server-\(i + 1)") }

    static func make(_ i: Int, endpoints: [Endpoint], incarnation: UInt64) -> Membership {
        let me = MemberUpdate(server: id(i), name: "server\(i + 1)", endpoint: endpoints[i],
                              apiEndpoint: Endpoint(addr: endpoints[i].addr, port: 7460), incarnation: incarnation, health: .alive)
        return Membership(me: me, seeds: endpoints, seed: UInt64(i + 1) &* 7919)
    }

    mutating func restart(_ i: Int) {
        incarnations[i] += 1
        nodes[i] = Self.make(i, endpoints: endpoints, incarnation: incarnations[i])
        stopped.remove(i)
    }

    mutating func run(for span: Span) {
        let end = now + span
        while now < end {
            now = now + step
            for i in nodes.indices where !stopped.contains(i) {
                let out = nodes[i]!.tick(now: now)
                enqueue(out)
            }
            deliver()
        }
    }

    private mutating func enqueue(_ out: MembershipOutput) {
        for s in out.sends { inFlight.append((now + latency, s.to, s.message)) }
    }

    private mutating func deliver() {
        var guardCount = 0
        while let idx = inFlight.firstIndex(where: { $0.at <= now + step }), guardCount < 10_000 {
            guardCount += 1
            let m = inFlight.remove(at: idx)
            guard let target = endpoints.firstIndex(of: m.to), !stopped.contains(target) else { continue }
            let out = nodes[target]!.received(m.msg, now: now)
            enqueue(out)
        }
    }

    func view(of i: Int, about j: Int) -> MemberHealth? { nodes[i]!.health(of: Self.id(j)) }

    /// Runs until `condition` holds or `limit` passes; returns the time it took.
    mutating func runUntil(limit: Span, _ condition: (SwimNet) -> Bool) -> Span? {
        let start = now
        while now - start < limit {
            if condition(self) { return now - start }
            run(for: step)
        }
        return condition(self) ? now - start : nil
    }
}

@Suite struct MembershipTests {
    @Test func fourMembersFindEachOtherFromTheSeedList() {
        var net = SwimNet(count: 4)
        let took = net.runUntil(limit: .seconds(2)) { n in
            (0..<4).allSatisfy { i in (0..<4).allSatisfy { j in n.view(of: i, about: j) == .alive } }
        }
        #expect(took != nil, "members did not all see each other alive within 2 s")
    }

    @Test(arguments: [0, 1, 2, 3])
    func aCrashedMemberIsDeclaredDeadByAllOthersWithinTwoSeconds(victim: Int) {
        var net = SwimNet(count: 4)
        net.run(for: .seconds(2))
        net.stopped.insert(victim)
        let others = (0..<4).filter { $0 != victim }
        let took = net.runUntil(limit: .seconds(2)) { n in others.allSatisfy { n.view(of: $0, about: victim) == .dead } }
        #expect(took != nil, "not declared dead by all within 2 s")
        // Nobody else was declared dead along the way.
        for i in others { for j in others { #expect(net.view(of: i, about: j) == .alive) } }
    }

    @Test func aRestartedMemberRejoinsWithItsIDWithinTwoSeconds() {
        var net = SwimNet(count: 4)
        net.run(for: .seconds(1))
        net.stopped.insert(2)
        net.run(for: .seconds(3))
        #expect(net.view(of: 0, about: 2) == .dead)
        net.restart(2)
        let took = net.runUntil(limit: .seconds(2)) { n in (0..<4).allSatisfy { n.view(of: $0, about: 2) == .alive } }
        #expect(took != nil)
        #expect(net.view(of: 2, about: 0) == .alive)
    }

    @Test func aResumedMemberRefutesItsDeathWithAHigherIncarnation() {
        var net = SwimNet(count: 4)
        net.run(for: .seconds(1))
        net.stopped.insert(1)  // SIGSTOP: its state is kept, it just hears and says nothing
        net.run(for: .seconds(3))
        #expect(net.view(of: 0, about: 1) == .dead)
        net.stopped.remove(1)
        let took = net.runUntil(limit: .seconds(2)) { n in (0..<4).allSatisfy { n.view(of: $0, about: 1) == .alive } }
        #expect(took != nil)
        #expect(net.nodes[1]!.me.incarnation > 1)
    }

    @Test func aHigherIncarnationAliveOverridesDeadButAnEqualOneDoesNot() {
        let ep = Endpoint(addr: "127.0.2.1", port: 7459)
        var m = Membership(me: MemberUpdate(server: ServerID("a"), name: "a", endpoint: ep, apiEndpoint: ep, incarnation: 1, health: .alive), seeds: [], seed: 1)
        let other = Endpoint(addr: "127.0.2.2", port: 7459)
        func rec(_ inc: UInt64, _ h: MemberHealth) -> MemberUpdate {
            MemberUpdate(server: ServerID("b"), name: "b", endpoint: other, apiEndpoint: other, incarnation: inc, health: h)
        }
        let senderRecord = MemberUpdate(server: ServerID("c"), name: "c", endpoint: Endpoint(addr: "127.0.2.3", port: 7459), apiEndpoint: other, incarnation: 1, health: .alive)
        _ = m.received(.ping(sequence: 1, updates: [senderRecord, rec(3, .dead)]), now: .zero)
        #expect(m.health(of: ServerID("b")) == .dead)
        _ = m.received(.ping(sequence: 2, updates: [senderRecord, rec(3, .alive)]), now: .zero)
        #expect(m.health(of: ServerID("b")) == .dead)
        let out = m.received(.ping(sequence: 3, updates: [senderRecord, rec(4, .alive)]), now: .zero)
        #expect(m.health(of: ServerID("b")) == .alive)
        #expect(out.changes.map(\.to) == [.alive])
    }

    @Test func hearingItselfSuspectedRaisesTheIncarnation() {
        let ep = Endpoint(addr: "127.0.2.1", port: 7459)
        var m = Membership(me: MemberUpdate(server: ServerID("a"), name: "a", endpoint: ep, apiEndpoint: ep, incarnation: 5, health: .alive), seeds: [], seed: 1)
        let sender = MemberUpdate(server: ServerID("c"), name: "c", endpoint: Endpoint(addr: "127.0.2.3", port: 7459), apiEndpoint: ep, incarnation: 1, health: .alive)
        var suspectMe = m.me
        suspectMe.health = .suspect
        let out = m.received(.ping(sequence: 9, updates: [sender, suspectMe]), now: .zero)
        #expect(m.me.incarnation == 6)
        guard case let .ack(seq, updates)? = out.sends.first?.message else { Issue.record("no ack"); return }
        #expect(seq == 9)
        #expect(updates.first?.incarnation == 6 && updates.first?.health == .alive)
        #expect(out.sends.first?.to == sender.endpoint)
    }
}
