import Foundation
import KetchShared
import Testing
@testable import KetchWire

@Suite("member port over real TCP", .serialized)
struct PeerTransportTests {
    static func ping(_ seq: UInt64, from: String = "a") -> PeerEnvelope {
        PeerEnvelope(from: ServerID(from), message: .membership(.ping(sequence: seq, updates: [])))
    }

    static func fastOptions() -> PeerTransport.Options {
        var o = PeerTransport.Options()
        o.limits.handshakeTimeout = .seconds(2)
        return o
    }

    @Test func envelopesArriveInOrderOverOneCachedConnection() async throws {
        let a = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let b = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        _ = try await a.start(host: "127.0.0.1", port: 0)
        let bEndpoint = try await b.start(host: "127.0.0.1", port: 0)
        for i in 0..<50 { a.send(Self.ping(UInt64(i)), to: bEndpoint) }
        var got: [UInt64] = []
        for await envelope in b.envelopes {
            if case .membership(.ping(let seq, _)) = envelope.message { got.append(seq) }
            if got.count == 50 { break }
        }
        #expect(got == Array(0..<50))
        #expect(a.droppedCount(for: bEndpoint) == 0)
        await a.shutdown()
        await b.shutdown()
    }

    @Test func wrongSecretPeerIsRefusedAndNothingIsDelivered() async throws {
        let a = PeerTransport(secret: otherSecret, options: Self.fastOptions(), logger: quietLogger)
        let b = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let bEndpoint = try await b.start(host: "127.0.0.1", port: 0)
        a.send(Self.ping(1), to: bEndpoint)
        #expect(await eventually { a.droppedCount(for: bEndpoint) == 1 })
        // A well-behaved peer still gets through afterwards.
        let c = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        c.send(Self.ping(7, from: "c"), to: bEndpoint)
        var iterator = b.envelopes.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.from == ServerID("c"))
        await a.shutdown(); await b.shutdown(); await c.shutdown()
    }

    @Test func clientRoleIsRefusedOnTheMemberPort() async throws {
        let b = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let bEndpoint = try await b.start(host: "127.0.0.1", port: 0)
        do {
            _ = try await APIClient.connect(to: bEndpoint, secret: testSecret)
            Issue.record("an api client was admitted to the member port")
        } catch {
            #expect(error.code == .authFailed)
            #expect(error.message.contains("member port"))
        }
        await b.shutdown()
    }

    @Test func unreachablePeerDropsInsteadOfQueueing() async throws {
        let b = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let dead = try await b.start(host: "127.0.0.1", port: 0)
        await b.shutdown()
        let a = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let start = ContinuousClock.now
        for i in 0..<1000 { a.send(Self.ping(UInt64(i)), to: dead) }
        #expect(await eventually { a.droppedCount(for: dead) == 1000 })
        #expect(ContinuousClock.now - start < .seconds(2))
        await a.shutdown()
    }

    @Test func peerThatRestartsIsReachedAgainOnTheNextSend() async throws {
        let a = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let b1 = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let endpoint = try await b1.start(host: "127.0.0.1", port: 0)
        a.send(Self.ping(1), to: endpoint)
        var it1 = b1.envelopes.makeAsyncIterator()
        #expect(await it1.next() != nil)
        await b1.shutdown()
        let b2 = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        _ = try await b2.start(host: "127.0.0.1", port: endpoint.port)
        let received = LockedValue(0)
        let collector = Task { for await _ in b2.envelopes { received.withLock { $0 += 1 } } }
        // The cached connection is dead; sends retry lazily until one lands on the new listener.
        let delivered = await eventually {
            a.send(Self.ping(2), to: endpoint)
            try? await Task.sleep(for: .milliseconds(20))
            return received.withLock { $0 } > 0
        }
        #expect(delivered)
        await a.shutdown(); await b2.shutdown()
        collector.cancel()
    }

    @Test func stalledPeerThatNeverHandshakesCostsBoundedMemory() async throws {
        // Accepts TCP (as a SIGSTOPped process's kernel would) but never says hello.
        let listener = try RawListener()
        var options = Self.fastOptions()
        options.maxQueuedPerPeer = 16
        options.handshakeTimeout = .milliseconds(200)
        let a = PeerTransport(secret: testSecret, options: options, logger: quietLogger)
        let endpoint = Endpoint(addr: "127.0.0.1", port: listener.port)
        for i in 0..<200 { a.send(Self.ping(UInt64(i)), to: endpoint) }
        #expect(await eventually { a.droppedCount(for: endpoint) == 200 })
        await a.shutdown()
    }

    @Test func garbageOnTheMemberPortGetsErrorsAndClose() async throws {
        let b = PeerTransport(secret: testSecret, options: Self.fastOptions(), logger: quietLogger)
        let endpoint = try await b.start(host: "127.0.0.1", port: 0)
        let raw = try RawSocket(port: endpoint.port)
        guard case .welcome = await authenticate(raw, role: .peer) else { Issue.record("handshake failed"); return }
        await raw.write("nope\n{\"v\":2,\"type\":\"envelope\"}\n{\"v\":1,\"type\":\"request\"}\n")
        var codes: [WireError.Code] = []
        while let line = await raw.readLine() {
            if case .error(let e) = try? WireCodec.decode(Array(line.utf8), port: .member) { codes.append(e.code) }
        }
        #expect(codes == [.badJSON, .badVersion, .unknownType])
        await b.shutdown()
    }
}
