import KetchShared
import Testing
@testable import KetchWire

@Suite struct FeedPublisherTests {
    @Test func snapshotThenDeltasThenHeartbeatsWithIncreasingSequence() async {
        let publisher = FeedPublisher(heartbeatPeriod: .milliseconds(50), wallClockMs: { 42 })
        await publisher.publish(FeedFixtures.status(members: 2))
        var iterator = await publisher.subscribe().makeAsyncIterator()
        guard case .snapshot(0, let snap) = await iterator.next() else { Issue.record("no snapshot first"); return }
        #expect(snap.members.count == 2)

        var changed = FeedFixtures.status(members: 3)
        changed.members[1].health = .dead
        await publisher.publish(changed)
        let d1 = await iterator.next(), d2 = await iterator.next()
        #expect(d1 == .delta(sequence: 1, change: .member(changed.members[1])))
        #expect(d2 == .delta(sequence: 2, change: .member(changed.members[2])))
        // Nothing changed: only heartbeats follow.
        await publisher.publish(changed)
        #expect(await iterator.next() == .heartbeat(sequence: 3, atUnixMs: 42))
        #expect(await iterator.next() == .heartbeat(sequence: 4, atUnixMs: 42))
    }

    @Test func subscriberBeforeFirstStatusGetsTheSnapshotWhenItComes() async {
        let publisher = FeedPublisher(heartbeatPeriod: .seconds(60))
        var iterator = await publisher.subscribe().makeAsyncIterator()
        await publisher.publish(FeedFixtures.status(members: 1))
        guard case .snapshot(0, _) = await iterator.next() else { Issue.record("no snapshot"); return }
    }

    @Test func eachSubscriptionHasItsOwnSequence() async {
        let publisher = FeedPublisher(heartbeatPeriod: .seconds(60))
        await publisher.publish(FeedFixtures.status(members: 1))
        var a = await publisher.subscribe().makeAsyncIterator()
        await publisher.publish(FeedFixtures.status(members: 2))
        var b = await publisher.subscribe().makeAsyncIterator()
        #expect(await a.next()?.sequence == 0)
        #expect(await a.next()?.sequence == 1)
        guard case .snapshot(0, let s) = await b.next() else { Issue.record("no snapshot for b"); return }
        #expect(s.members.count == 2)
    }

    @Test func slowSubscriberIsEndedInsteadOfBuffered() async {
        let publisher = FeedPublisher(heartbeatPeriod: .seconds(60), bufferLimit: 8)
        await publisher.publish(FeedFixtures.status(members: 1))
        let stream = await publisher.subscribe()
        for i in 0..<50 {
            var s = FeedFixtures.status(members: 1)
            s.members[0].incarnation = UInt64(i + 2)
            await publisher.publish(s)
        }
        #expect(await publisher.subscriberCount == 0)
        var sequences: [UInt64] = []
        for await m in stream { sequences.append(m.sequence) }
        // What was buffered is delivered without gaps, then the stream ends.
        #expect(sequences == Array(0..<8))
    }

    @Test func deltasReplayedOnTheSnapshotReproduceTheStatus() async {
        let publisher = FeedPublisher(heartbeatPeriod: .seconds(60))
        var status = FeedFixtures.status(members: 4)
        await publisher.publish(status)
        var iterator = await publisher.subscribe().makeAsyncIterator()
        guard case .snapshot(_, var copy) = await iterator.next() else { Issue.record("no snapshot"); return }
        var rng = SeededRandomNumbers(seed: 7)
        for step in 0..<40 {
            switch rng.next() % 4 {
            case 0: if !status.members.isEmpty { status.members.remove(at: Int(rng.next() % UInt64(status.members.count))) }
            case 1: status.members.append(FeedFixtures.member(10 + step))
            case 2: if !status.members.isEmpty { status.members[0].health = .suspect; status.members[0].incarnation += 1 }
            default: status.events.append(ClusterEvent(atUnixMs: Int64(step), kind: .membership, replica: nil, text: "step \(step)"))
            }
            let before = await publisher.status!
            await publisher.publish(status)
            for _ in FeedPublisher.diff(from: before, to: status) {
                guard case .delta(_, let change) = await iterator.next() else { Issue.record("expected a delta"); return }
                copy.apply(change)
            }
            #expect(Set(copy.members.map(\.server)) == Set(status.members.map(\.server)))
            #expect(copy.members.sorted { $0.server < $1.server } == status.members.sorted { $0.server < $1.server })
            #expect(copy.events == status.events)
        }
    }

    @Test func finishEndsEverySubscription() async {
        let publisher = FeedPublisher(heartbeatPeriod: .seconds(60))
        await publisher.publish(FeedFixtures.status(members: 1))
        let stream = await publisher.subscribe()
        await publisher.finish()
        var count = 0
        for await _ in stream { count += 1 }
        #expect(count == 1)
    }
}

typealias SeededRandomNumbers = SplitMix64
