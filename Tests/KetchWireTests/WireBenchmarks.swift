import Foundation
import KetchShared
import Testing
@testable import KetchWire

/// Rough numbers for the report, not timed tests: run with
/// `KETCH_WIRE_BENCH=1 swift test -c release --filter WireBenchmarks`.
@Suite("wire benchmarks", .serialized, .enabled(if: ProcessInfo.processInfo.environment["KETCH_WIRE_BENCH"] == "1"))
struct WireBenchmarks {
    static func report(_ name: String, count: Int, elapsed: Duration) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("bench \(name): \(count) in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / seconds))/s, \(String(format: "%.1f", seconds / Double(count) * 1e6)) µs each")
    }

    @Test func codecLines() throws {
        let status = NodeStatus(server: ServerID("id-1"), name: "server1", members: (1...4).map { FeedFixtures.member($0) }, replicas: [], events: [])
        let message = WireMessage.feed(.snapshot(sequence: 0, status: status))
        let n = 20_000
        let start = ContinuousClock.now
        for _ in 0..<n {
            let line = try WireCodec.encode(message)
            _ = try WireCodec.decode(line.dropLast(), port: .api)
        }
        Self.report("encode+decode 4-member snapshot (\(try WireCodec.encode(message).count) bytes)", count: n, elapsed: ContinuousClock.now - start)
    }

    @Test func requestRoundTrips() async throws {
        let (server, endpoint) = try await startServer()
        let connectStart = ContinuousClock.now
        let client = try await APIClient.connect(to: endpoint, secret: testSecret)
        Self.report("connect+handshake", count: 1, elapsed: ContinuousClock.now - connectStart)
        let n = 5_000
        let start = ContinuousClock.now
        for _ in 0..<n { _ = try await client.request(.get(kind: .server, id: nil)) }
        Self.report("sequential get round trips", count: n, elapsed: ContinuousClock.now - start)
        await client.close()
        await server.shutdown()
    }

    @Test func peerEnvelopes() async throws {
        let a = PeerTransport(secret: testSecret, logger: quietLogger)
        let b = PeerTransport(secret: testSecret, logger: quietLogger)
        let endpoint = try await b.start(host: "127.0.0.1", port: 0)
        let n = 20_000
        let start = ContinuousClock.now
        let receiver = Task {
            var count = 0
            for await _ in b.envelopes { count += 1; if count == n { break } }
            return count
        }
        for i in 0..<n {
            a.send(PeerEnvelope(from: ServerID("a"), message: .membership(.ping(sequence: UInt64(i), updates: [FeedFixtures.update]))), to: endpoint)
            if i % 100 == 99 { try await Task.sleep(for: .milliseconds(1)) }
        }
        let received = await receiver.value
        Self.report("peer envelopes (ping with one update), \(a.droppedCount(for: endpoint)) dropped", count: received, elapsed: ContinuousClock.now - start)
        await a.shutdown(); await b.shutdown()
    }
}

extension FeedFixtures {
    static let update = MemberUpdate(server: ServerID("id-1"), name: "server1", endpoint: Endpoint(addr: "127.0.2.1", port: 7459),
                                     apiEndpoint: Endpoint(addr: "127.0.2.1", port: 7460), incarnation: 1, health: .alive)
}
