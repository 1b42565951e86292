import Foundation
import KetchShared
@testable import KetchWire
import NIOCore
import NIOPosix
import Testing

/// The HTTP status port's server on its own: what it answers, and that bad input gets a status
/// and leaves it serving (ports picked by the OS on 127.0.0.1).
@Suite struct HTTPStatusServerTests {
    struct Echo: HTTPStatusHandler {
        func answer(path: String, query: [String: String]) async -> HTTPAnswer {
            path == "/health" ? .json(200, .object([("q", .string(query["lag"] ?? ""))])) : .error(404, "no \(path)")
        }
    }

    /// Sends `raw` bytes and returns whatever comes back before the server closes.
    func exchange(_ port: Int, _ raw: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: raw))
            var text = ""
            for try await chunk in inbound { text += String(buffer: chunk) }
            return text
        }
    }

    @Test func answersGetsAndRefusesTheRest() async throws {
        let server = HTTPStatusServer()
        let bound = try await server.start(host: "127.0.0.1", port: 0, handler: Echo())
        defer { Task { await server.shutdown() } }

        let ok = try await exchange(bound.port, "GET /health?lag=12%2034 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(ok.hasPrefix("HTTP/1.1 200"), "\(ok)")
        #expect(ok.contains("\"q\":\"12 34\""), "the query is decoded: \(ok)")
        let head = try await exchange(bound.port, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200") && !head.contains("{"), "HEAD has no body: \(head)")
        #expect(try await exchange(bound.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        #expect(try await exchange(bound.port, "DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 405"))
        let big = "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "a", count: 20_000))\r\n\r\n"
        let tooBig = try await exchange(bound.port, big)
        #expect(tooBig.hasPrefix("HTTP/1.1 413") || tooBig.hasPrefix("HTTP/1.1 400") || tooBig.hasPrefix("HTTP/1.1 431") || tooBig.isEmpty, "\(tooBig.prefix(80))")
        let garbage = try await exchange(bound.port, "\u{1}\u{2}not http at all\r\n\r\n")
        #expect(garbage.isEmpty || garbage.hasPrefix("HTTP/1.1 400"), "\(garbage.prefix(80))")
        // A client that sends nothing is dropped after the idle timeout.
        let started = ContinuousClock.now
        let silent = try await exchange(bound.port, "")
        #expect(silent.isEmpty && ContinuousClock.now - started < .seconds(15), "a silent client was not dropped")
        // Still serving after all of that.
        #expect(try await exchange(bound.port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 200"))
    }

    @Test func splitsPathsAndQueries() {
        #expect(HTTPStatusServer.split("/primary/db1").path == "/primary/db1")
        #expect(HTTPStatusServer.split("/replica/db1?lag=5&x").query == ["lag": "5", "x": ""])
        #expect(HTTPStatusServer.split("/a%2Fb").path == "/a/b")
        #expect(HTTPStatusServer.split("/?=").query == ["": ""])
    }
}
