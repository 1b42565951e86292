import KetchShared
import Logging
import NIOCore
import Synchronization

/// What a node plugs into `APIServer`: answers control requests and provides the status feed.
public protocol APIHandler: Sendable {
    /// Answers one request. A long request (failover) may call `progress` any number of times
    /// before returning; each call becomes a `progress` reply with the request's id.
    func handle(_ request: ControlRequest, progress: @escaping @Sendable (String) async -> Void) async -> ControlReply
    /// A new feed subscription (usually `FeedPublisher.subscribe()`): a snapshot first, then
    /// deltas and heartbeats. When the stream ends, the server closes the connection so that
    /// the client resubscribes.
    func subscribe() async -> AsyncStream<FeedMessage>
}

/// The api port (7460): authenticates clients (role `client`), then serves request lines and,
/// after a `subscribe` request, the status feed on the same connection.
///
/// Bad input gets one error line; an oversized line, a failed handshake, or `maxBadLines` bad
/// lines close that connection. Other connections are not affected.
public final class APIServer: Sendable {
    private let listener: WireListener

    public init(secret: ClusterSecret, limits: WireLimits = WireLimits(), logger: Logger = Logger(label: "ketch.wire.api")) {
        listener = WireListener(secret: secret, role: .client, port: .api, limits: limits, logger: logger)
    }

    /// Binds `host:port` (port 0 picks a free one) and starts serving; returns the bound endpoint.
    @discardableResult
    public func start(host: String, port: Int, handler: some APIHandler) async throws(WireError) -> Endpoint {
        let limits = listener.limits
        return try await listener.start(host: host, port: port) { reader, writer, channel in
            await Self.serve(&reader, writer: writer, channel: channel, handler: handler, limits: limits)
        }
    }

    /// Stops listening and closes every client connection.
    public func shutdown() async { await listener.shutdown() }

    private static func serve(_ reader: inout LineReader, writer: LineWriter, channel: Channel, handler: some APIHandler, limits: WireLimits) async {
        let inFlight = InFlightCounter()
        await withDiscardingTaskGroup { group in
            var badLines = 0
            var subscribed = false
            var closing = false
            func strike(_ error: WireError) async {
                await writer.trySend(.error(error))
                badLines += 1
                if error.code == .lineTooLong || badLines >= limits.maxBadLines {
                    if error.code != .lineTooLong {
                        await writer.trySend(.error(WireError(.tooManyErrors, "\(badLines) bad lines on this connection; closing it. Send one JSON request object per line (see docs/wire.md)")))
                    }
                    closing = true
                }
            }
            while !closing, let item = await reader.next() {
                switch item {
                case .failure(let error):
                    await strike(error)
                case .success(.request(let id, .subscribe)):
                    if subscribed {
                        await writer.trySend(.reply(id: id, .error(ErrorReply(code: "already-subscribed", message: "this connection already carries the feed; open another connection to subscribe again"))))
                        continue
                    }
                    subscribed = true
                    group.addTask {
                        do {
                            try await writer.send(.reply(id: id, .ok(message: "subscribed")))
                            for await message in await handler.subscribe() {
                                try await writer.send(.feed(message))
                            }
                        } catch {}
                        // The feed ended (slow subscriber or node stopping): close so the client resubscribes.
                        if !Task.isCancelled { channel.close(promise: nil) }
                    }
                case .success(.request(let id, let request)):
                    guard inFlight.tryAcquire(limit: limits.maxRequestsInFlight) else {
                        await writer.trySend(.error(WireError(.busy, "\(limits.maxRequestsInFlight) requests are already in flight on this connection; wait for replies before sending more", requestID: id)))
                        continue
                    }
                    group.addTask {
                        let reply = await handler.handle(request) { message in
                            try? await writer.send(.reply(id: id, .progress(message: message)))
                        }
                        inFlight.release()
                        try? await writer.send(.reply(id: id, reply))
                    }
                case .success(.error):
                    // Never answer an error with an error: two confused ends would ping-pong forever.
                    badLines += 1
                    closing = badLines >= limits.maxBadLines
                case .success(let other):
                    await strike(WireError(.unexpectedMessage, "a '\(other.type)' line is not accepted from a client after the handshake; send request lines (see docs/wire.md)"))
                }
            }
            if closing { await WireListener.closeGracefully(&reader, channel: channel) }
            group.cancelAll()
        }
    }
}
