import KetchShared
import Testing
@testable import KetchWire

@Suite("feed follower", .serialized)
struct FeedFollowerTests {
    @Test func followsReconnectsAfterRestartAndStartsFromASnapshot() async throws {
        let publisher = FeedPublisher(heartbeatPeriod: .milliseconds(100))
        await publisher.publish(FeedFixtures.status(members: 2))
        let (server, endpoint) = try await startServer(handler: TestHandler(publisher: publisher))
        let follower = FeedFollower(endpoint: endpoint, secret: testSecret)
        var events = follower.events().makeAsyncIterator()
        // On a loaded machine a first handshake may time out; the follower then retries, which
        // shows up as disconnects before the first connect.
        var connected = false
        while let event = await events.next() {
            if event == .connected(endpoint) { connected = true; break }
        }
        #expect(connected)
        guard case .message(.snapshot(0, _)) = await events.next() else { Issue.record("no snapshot"); return }
        guard case .message(.heartbeat(1, _)) = await events.next() else { Issue.record("no heartbeat"); return }

        await server.shutdown()
        // Heartbeats sent before the shutdown may still be on their way (a loaded machine once
        // delivered one more, and the test took it for a missing disconnect); the disconnect
        // must come after them, and nothing else.
        var reason: String?
        while let event = await events.next() {
            if case .disconnected(let r) = event { reason = r; break }
            guard case .message(.heartbeat) = event else { Issue.record("unexpected \(event) before the disconnect"); return }
        }
        guard let reason else { Issue.record("no disconnect"); return }
        #expect(!reason.isEmpty)

        let restarted = APIServer(secret: testSecret, logger: quietLogger)
        try await restarted.start(host: "127.0.0.1", port: endpoint.port, handler: TestHandler(publisher: publisher))
        // Refused attempts show up as further disconnects until the server is back.
        var reconnected = false
        while let event = await events.next() {
            if case .connected = event { reconnected = true; break }
        }
        #expect(reconnected)
        guard case .message(.snapshot(0, _)) = await events.next() else { Issue.record("no fresh snapshot"); return }
        await restarted.shutdown()
    }

    @Test func silentNodeIsDetected() async throws {
        // Heartbeats far apart: the follower's silence timeout fires first.
        let publisher = FeedPublisher(heartbeatPeriod: .seconds(60))
        await publisher.publish(FeedFixtures.status(members: 1))
        let (server, endpoint) = try await startServer(handler: TestHandler(publisher: publisher))
        var options = FeedFollower.Options()
        options.silenceTimeout = .milliseconds(300)
        var events = FeedFollower(endpoint: endpoint, secret: testSecret, options: options).events().makeAsyncIterator()
        #expect(await events.next() == .connected(endpoint))
        _ = await events.next()
        guard case .disconnected(let reason) = await events.next() else { Issue.record("silence not detected"); return }
        #expect(reason.contains("no message"))
        await server.shutdown()
    }

    @Test func slowConsoleGetsAFreshSnapshotInsteadOfAGap() async throws {
        let publisher = FeedPublisher(heartbeatPeriod: .milliseconds(10))
        await publisher.publish(FeedFixtures.status(members: 1))
        let handler = TestHandler(publisher: publisher)
        let (server, endpoint) = try await startServer(handler: handler)
        var options = FeedFollower.Options()
        options.bufferLimit = 4
        options.maxBackoff = .milliseconds(200)
        var events = FeedFollower(endpoint: endpoint, secret: testSecret, options: options).events().makeAsyncIterator()
        // Let the buffer overflow while nobody reads, until the follower has given up its first
        // subscription and asked for another. (A fixed 300 ms was not always enough on a loaded
        // machine: nothing overflowed, and the test read 200 gapless messages of one snapshot.)
        let resubscribed = await eventually(timeout: .seconds(30)) { handler.subscriptions.withLock { $0 } >= 2 }
        #expect(resubscribed, "the follower never fell behind and resubscribed")
        var snapshots = 0
        var expected: UInt64?
        var gaps = 0
        for _ in 0..<200 {
            guard let event = await events.next() else { break }
            if case .message(let m) = event {
                if case .snapshot = m { snapshots += 1; expected = 1; continue }
                if let e = expected, m.sequence != e { gaps += 1 }
                expected = m.sequence + 1
            }
            if snapshots >= 2 { break }
        }
        #expect(snapshots >= 2)
        #expect(gaps == 0)
        await server.shutdown()
    }
}
