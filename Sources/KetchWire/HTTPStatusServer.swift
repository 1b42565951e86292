import Foundation
import KetchShared
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP answer of the status port.
public struct HTTPAnswer: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: String

    public init(status: Int, contentType: String = "application/json", body: String) {
        self.status = status; self.contentType = contentType; self.body = body
    }

    /// `value` as one line of JSON.
    public static func json(_ status: Int, _ value: JSONValue) -> HTTPAnswer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let text = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return HTTPAnswer(status: status, body: text + "\n")
    }

    /// A one-line JSON error: what was wrong and what is accepted.
    public static func error(_ status: Int, _ message: String) -> HTTPAnswer {
        json(status, .object([("error", .string(message))]))
    }
}

/// What a node plugs into `HTTPStatusServer`: the answer to a GET of `path` (no query) with
/// the query's parameters. Called once per request; must not block.
public protocol HTTPStatusHandler: Sendable {
    func answer(path: String, query: [String: String]) async -> HTTPAnswer
}

/// The status port (7461): plain HTTP/1.1 for load balancers and Prometheus — `GET` (and `HEAD`)
/// only, no authentication (it shows roles and numbers, never a secret), one request per
/// connection. It carries no control: everything that changes the cluster stays on the
/// authenticated api port.
///
/// Bad requests get a status and a one-line reason (400 malformed, 405 another method, 413 a
/// request over `maxRequestBytes`, 404 an unknown path); the connection is then closed. Other
/// connections are not affected.
public final class HTTPStatusServer: Sendable {
    private struct State {
        var channel: Channel?
        var task: Task<Void, Never>?
        var stopped = false
    }
    private let state = Mutex(State())
    private let logger: Logger
    /// Request line plus headers; a load balancer's check is a few hundred bytes.
    public static let maxRequestBytes = 8 * 1024
    /// A client that sends nothing for this long is dropped (a half-open check must not pin a task).
    public static let idleTimeout = TimeAmount.seconds(5)

    public init(logger: Logger = Logger(label: "ketch.http")) {
        self.logger = logger
    }

    /// Binds `host:port` (0 picks a free one) and starts serving; returns the bound endpoint.
    @discardableResult
    public func start(host: String, port: Int, handler: some HTTPStatusHandler) async throws(WireError) -> Endpoint {
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                        try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw WireError(.unreachable, "cannot listen on \(host):\(port) for the HTTP status port: \(error); is another process using it, and does \(host) name an address of this machine?")
        }
        let bound = Endpoint(addr: host, port: server.channel.localAddress?.port ?? port)
        let logger = self.logger
        let task = Task {
            _ = try? await server.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            group.addTask { await Self.serve(connection, handler: handler, logger: logger) }
                        }
                    } catch {
                        logger.debug("http accept loop ended", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        let stoppedEarly = state.withLock { s in
            s.channel = server.channel
            s.task = task
            return s.stopped
        }
        if stoppedEarly { await shutdown() }
        logger.info("listening", metadata: ["wire.port": "http", "endpoint": "\(bound)"])
        return bound
    }

    /// Stops listening; connections in progress end with their one request.
    public func shutdown() async {
        let (channel, task) = state.withLock { s in
            s.stopped = true
            return (s.channel, s.task)
        }
        try? await channel?.close()
        task?.cancel()
        await task?.value
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                              handler: some HTTPStatusHandler, logger: Logger) async {
        _ = try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var bytes = 0
            var answer: HTTPAnswer?
            do {
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        bytes += h.uri.utf8.count + h.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
                    case .body(let b):
                        bytes += b.readableBytes
                    case .end:
                        break
                    }
                    if bytes > maxRequestBytes {
                        answer = .error(413, "request over \(maxRequestBytes) bytes; send a GET with a short path")
                        break
                    }
                    if case .end = part { break }
                }
            } catch {
                // Malformed HTTP: NIO's error handler has answered 400 already, or the client went away.
                return
            }
            guard let head else { return }
            let isHead = head.method == .HEAD
            if answer == nil {
                if head.method != .GET && !isHead {
                    answer = .error(405, "\(head.method) is not served here; use GET (or HEAD) of /health, /metrics, /primary/DB, /replica/DB, /sync/DB or /DB")
                } else {
                    let (path, query) = Self.split(head.uri)
                    answer = await handler.answer(path: path, query: query)
                }
            }
            guard let answer else { return }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: answer.contentType)
            headers.add(name: "Content-Length", value: "\(answer.body.utf8.count)")
            headers.add(name: "Connection", value: "close")
            headers.add(name: "Cache-Control", value: "no-store")
            let status = HTTPResponseStatus(statusCode: answer.status)
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
            if !isHead { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: answer.body)))) }
            try await outbound.write(.end(nil))
        }
    }

    /// `/a/b?x=1&y` → ("/a/b", ["x": "1", "y": ""]); percent-escapes are decoded.
    static func split(_ uri: String) -> (path: String, query: [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = decode(String(parts.first ?? ""))
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query[decode(String(kv[0]))] = kv.count > 1 ? decode(String(kv[1])) : ""
            }
        }
        return (path, query)
    }

    private static func decode(_ s: String) -> String {
        s.removingPercentEncoding ?? s
    }
}

/// Closes a connection that sent nothing for `HTTPStatusServer.idleTimeout` (IdleStateHandler
/// only reports it).
private final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
