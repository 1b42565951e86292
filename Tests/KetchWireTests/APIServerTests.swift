import Foundation
import KetchShared
import Testing
@testable import KetchWire

/// Each test has two minutes: the feed test once hung in CI (load 0, no progress for 15 min),
/// and a hang should fail here, naming its test, instead of holding the whole run.
@Suite("api port over real TCP", .serialized, .timeLimit(.minutes(2)))
struct APIServerTests {
    @Test func handshakeSucceedsAndGetIsAnswered() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        let reply = try await client.request(.get(kind: .server, id: nil))
        guard case .resources(let list) = reply else { Issue.record("unexpected reply \(reply)"); return }
        #expect(list.data.map(\.id) == ["id-1"])
        #expect(list.data.first?.type == .server)
        let error = try await client.request(.deleteReplica(name: "nope"))
        #expect(error == .error(ErrorReply(code: "not-found", message: "no replica named nope")))
        await client.close()
    }

    @Test func failoverReportsProgressBeforeTheFinalReply() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        let seen = LockedValue<[String]>([])
        let reply = try await client.request(.failover(name: "mydb1", to: nil)) { message in
            seen.withLock { $0.append(message) }
        }
        #expect(reply == .ok(message: "failed over mydb1"))
        #expect(seen.withLock { $0 } == ["closing epoch of mydb1", "promoting"])
        await client.close()
    }

    @Test func wrongSecretIsRefusedOnBothSides() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        do {
            _ = try await APIClient.connect(to: endpoint, secret: otherSecret)
            Issue.record("a client with the wrong secret was admitted")
        } catch {
            #expect(error.code == .authFailed)
            #expect(error.message.contains("the cluster secret does not match; use the same secret file as the nodes (--secret-file / KETCH_SECRET_FILE)"))
        }
        // The server's side: a raw client with the wrong secret gets an auth-failed line, then EOF.
        let raw = try RawSocket(port: endpoint.port)
        let answer = await authenticate(raw, secret: otherSecret)
        guard case .error(let e) = answer else { Issue.record("expected an error line, got \(String(describing: answer))"); return }
        #expect(e.code == .authFailed)
        #expect(await raw.readUntilClosed())
    }

    @Test func clientRefusesAServerThatCannotProveTheSecret() async throws {
        // A server with another secret: the client's proof fails there first, so simulate a
        // lying server with the handshake machine directly.
        var client = ClientHandshake(secret: testSecret, role: .client, peer: "the node at x:1")
        let server = ServerHandshake(secret: otherSecret, role: .client, port: .api)
        guard case .success(.send) = client.receive(server.hello) else { Issue.record("no auth line"); return }
        let forged = WireMessage.welcome(Welcome(mac: String(repeating: "ab", count: 32)))
        guard case .failure(let error) = client.receive(forged) else { Issue.record("forged welcome accepted"); return }
        #expect(error.code == .authFailed)
        #expect(error.message.contains("could not prove it holds the cluster secret"))
    }

    @Test func requestBeforeHandshakeGetsAnErrorAndClose() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        let raw = try RawSocket(port: endpoint.port)
        guard case .hello = await raw.decodedLine() else { Issue.record("no hello"); return }
        try await raw.write(WireCodec.encode(.request(id: 1, .get(kind: .server, id: nil))))
        guard case .error(let e) = await raw.decodedLine() else { Issue.record("no error line"); return }
        #expect(e.code == .notAuthenticated)
        #expect(await raw.readUntilClosed())
    }

    @Test func garbageGetsErrorLinesThenCloseAndOthersAreStillServed() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        let raw = try RawSocket(port: endpoint.port)
        guard case .welcome = await authenticate(raw) else { Issue.record("handshake failed"); return }
        await raw.write("this is not json\n")
        guard case .error(let e1) = await raw.decodedLine() else { Issue.record("no error for garbage"); return }
        #expect(e1.code == .badJSON)
        await raw.write("{\"v\":1,\"type\":\"launch-missiles\"}\n")
        guard case .error(let e2) = await raw.decodedLine() else { Issue.record("no error for unknown type"); return }
        #expect(e2.code == .unknownType)
        await raw.write([0xFF, 0xFE, 0x0A])
        guard case .error(let e3) = await raw.decodedLine() else { Issue.record("no error for bad utf8"); return }
        #expect(e3.code == .badUTF8)
        guard case .error(let e4) = await raw.decodedLine() else { Issue.record("no too-many-errors line"); return }
        #expect(e4.code == .tooManyErrors)
        #expect(await raw.readUntilClosed())

        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        #expect(try await client.request(.conninfo(name: "x")) == .ok(message: "done"))
        await client.close()
    }

    @Test func oversizedLineGetsAnErrorAndClose() async throws {
        var limits = WireLimits()
        limits.maxLineBytes = 4096
        let (server, endpoint) = try await startServer(limits: limits)
        defer { Task { await server.shutdown() } }
        let raw = try RawSocket(port: endpoint.port)
        guard case .welcome = await authenticate(raw) else { Issue.record("handshake failed"); return }
        await raw.write([UInt8](repeating: UInt8(ascii: "x"), count: 10_000))
        guard case .error(let e) = await raw.decodedLine() else { Issue.record("no error for an oversized line"); return }
        #expect(e.code == .lineTooLong)
        #expect(await raw.readUntilClosed())
        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        #expect(try await client.request(.conninfo(name: "x")) == .ok(message: "done"))
        await client.close()
    }

    @Test func oneMebibyteLineIsRefusedAtTheDefaultLimit() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        let raw = try RawSocket(port: endpoint.port)
        guard case .welcome = await authenticate(raw) else { Issue.record("handshake failed"); return }
        await raw.write([UInt8](repeating: UInt8(ascii: "{"), count: (1 << 20) + 10) + [0x0A])
        guard case .error(let e) = await raw.decodedLine() else { Issue.record("no error for an oversized line"); return }
        #expect(e.code == .lineTooLong)
    }

    @Test func badRequestFieldsAnswerThatRequestID() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        let raw = try RawSocket(port: endpoint.port)
        guard case .welcome = await authenticate(raw) else { Issue.record("handshake failed"); return }
        await raw.write("{\"v\":1,\"type\":\"request\",\"id\":9,\"request\":{\"get\":{\"kind\":\"planet\"}}}\n")
        guard case .error(let e) = await raw.decodedLine() else { Issue.record("no error"); return }
        #expect(e.code == .badMessage)
        #expect(e.requestID == 9)
        #expect(e.message.contains("request.get.kind"))
    }

    @Test func unreachablePortFailsQuicklyNamingHostAndPort() async throws {
        // Bind then close to get a port nobody listens on.
        let (server, endpoint) = try await startServer()
        await server.shutdown()
        let start = ContinuousClock.now
        do {
            _ = try await APIClient.connect(to: endpoint, secret: testSecret, timeout: .milliseconds(500))
            Issue.record("connected to a closed port")
        } catch {
            #expect(error.code == .unreachable)
            #expect(error.message.contains("127.0.0.1:\(endpoint.port)"))
            #expect(error.message.contains("connection refused"))
        }
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func feedStreamsSnapshotDeltasAndHeartbeatsWithIncreasingSequence() async throws {
        let publisher = FeedPublisher(heartbeatPeriod: .milliseconds(100))
        await publisher.publish(FeedFixtures.status(members: 2))
        let (server, endpoint) = try await startServer(handler: TestHandler(publisher: publisher))
        defer { Task { await server.shutdown() } }
        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        var received: [FeedMessage] = []
        for try await message in client.subscribe() {
            received.append(message)
            if received.count == 1 { await publisher.publish(FeedFixtures.status(members: 3)) }
            if received.count >= 5 { break }
        }
        guard case .snapshot(0, let status) = received.first else { Issue.record("no snapshot first: \(received)"); return }
        #expect(status.members.count == 2)
        #expect(received.map(\.sequence) == [0, 1, 2, 3, 4])
        #expect(received.contains { if case .delta(_, .member(let m)) = $0 { m.name == "server3" } else { false } })
        #expect(received.contains { if case .heartbeat = $0 { true } else { false } })
    }

    @Test func manyConcurrentClientsAreAllServed() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        let ok = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let client = try await APIClient.connect(to: endpoint, secret: testSecret)
                    var n = 0
                    for _ in 0..<25 {
                        if case .resources = try await client.request(.get(kind: .server, id: nil)) { n += 1 }
                    }
                    await client.close()
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(ok == 500)
    }

    @Test func randomGarbageFloodsAreClosedAndTheServerCarriesOn() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        var rng = SeededRandomNumbers(seed: 99)
        let garbage = (0..<2_000_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        // Before authentication: refused and closed.
        let early = try RawSocket(port: endpoint.port)
        await early.write(garbage)
        #expect(await early.readUntilClosed())
        // After authentication: error lines, then closed.
        let late = try RawSocket(port: endpoint.port)
        guard case .welcome = await authenticate(late) else { Issue.record("handshake failed"); return }
        await late.write(garbage)
        #expect(await late.readUntilClosed())
        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        #expect(try await client.request(.conninfo(name: "x")) == .ok(message: "done"))
        await client.close()
    }

    @Test func silentListenerTimesOutTheHandshakeNamingTheNode() async throws {
        let listener = try RawListener()
        let start = ContinuousClock.now
        do {
            _ = try await APIClient.connect(to: Endpoint(addr: "127.0.0.1", port: listener.port), secret: testSecret, timeout: .milliseconds(300))
            Issue.record("connected to a listener that never speaks")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.message.contains("127.0.0.1:\(listener.port)"))
            #expect(error.message.contains("handshake"))
        }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func requestTimeoutFailsOnlyThatRequest() async throws {
        let (server, endpoint) = try await startServer(handler: SlowHandler())
        defer { Task { await server.shutdown() } }
        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        do {
            _ = try await client.request(.failover(name: "slow", to: nil), timeout: .milliseconds(200))
            Issue.record("a slow request did not time out")
        } catch {
            #expect(error.code == .timeout)
        }
        #expect(try await client.request(.conninfo(name: "fast")) == .conninfo("fast"))
        await client.close()
    }
}

/// Answers `failover` after a long delay and everything else at once.
struct SlowHandler: APIHandler {
    func handle(_ request: ControlRequest, progress: @escaping @Sendable (String) async -> Void) async -> ControlReply {
        if case .failover = request { try? await Task.sleep(for: .seconds(5)) }
        if case .conninfo(let name) = request { return .conninfo(name) }
        return .ok(message: "done")
    }
    func subscribe() async -> AsyncStream<FeedMessage> { AsyncStream { $0.finish() } }
}
