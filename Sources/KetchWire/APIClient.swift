import KetchShared
import Logging
import NIOCore
import Synchronization

/// A client of one node's api port (`ketchctl`, `ketch-tui`, tests).
///
/// One connection, authenticated with role `client`. Requests may overlap; each gets its own
/// id. `subscribe()` turns the connection into a feed: use a separate client for requests.
/// Every failure is a `WireError` that names the node: `unreachable`, `auth-failed`, `timeout`,
/// `closed`, `bad-reply`.
public final class APIClient: Sendable {
    public let endpoint: Endpoint

    private struct Pending {
        var continuation: CheckedContinuation<ControlReply, any Error>
        var progress: (@Sendable (String) -> Void)?
    }

    private struct State {
        var nextID: UInt64 = 1
        var pending: [UInt64: Pending] = [:]
        var feed: AsyncThrowingStream<FeedMessage, any Error>.Continuation?
        var feedRequestID: UInt64?
        /// Set once the connection is gone; every later call fails with it.
        var failure: WireError?
    }

    private let state = Mutex(State())
    private let channel: Channel
    private let writer: LineWriter

    private init(endpoint: Endpoint, channel: Channel, writer: LineWriter) {
        self.endpoint = endpoint; self.channel = channel; self.writer = writer
    }

    /// Connects and authenticates within `timeout` (TCP connect and handshake together).
    public static func connect(to endpoint: Endpoint, secret: ClusterSecret, timeout: Duration = .seconds(5), limits: WireLimits = WireLimits()) async throws(WireError) -> APIClient {
        let lineChannel = try await WireConnect.open(to: endpoint, timeout: timeout, limits: limits)
        let ready = ReadySignal<Result<APIClient, WireError>>()
        let channel = lineChannel.channel
        Task {
            let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                ready.resolve(.failure(WireError(.timeout, "the node at \(endpoint) did not complete the handshake within \(timeout.milliseconds) ms; is it a Ketch api port (default 7460)?")))
                channel.close(promise: nil)
            }
            var client: APIClient?
            try? await lineChannel.executeThenClose { inbound, outbound in
                var reader = LineReader(inbound, port: .api)
                let writer = LineWriter(outbound: outbound)
                var handshake = ClientHandshake(secret: secret, role: .client, peer: "the node at \(endpoint)")
                while client == nil, let item = await reader.next() {
                    switch item.flatMap({ handshake.receive($0) }) {
                    case .success(.send(let message)):
                        try await writer.send(message)
                    case .success(.authenticated):
                        deadline.cancel()
                        client = APIClient(endpoint: endpoint, channel: channel, writer: writer)
                        ready.resolve(.success(client!))
                    case .failure(let error):
                        ready.resolve(.failure(error))
                        return
                    }
                }
                guard let client else {
                    ready.resolve(.failure(WireError(.closed, "the node at \(endpoint) closed the connection during the handshake; is it a Ketch api port (default 7460)?")))
                    return
                }
                while let item = await reader.next() {
                    client.received(item)
                }
            }
            deadline.cancel()
            client?.connectionEnded()
        }
        return try await ready.value.get()
    }

    /// Sends `request` and waits for its final reply. `progress` sees each progress message
    /// (failover steps) as it arrives. An error reply is returned, not thrown: it is an answer.
    public func request(_ request: ControlRequest, timeout: Duration = .seconds(30), progress: (@Sendable (String) -> Void)? = nil) async throws(WireError) -> ControlReply {
        let id: UInt64
        do {
            id = try state.withLock { s throws(WireError) -> UInt64 in
                if let failure = s.failure { throw failure }
                defer { s.nextID += 1 }
                return s.nextID
            }
        }
        let endpoint = endpoint
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] in
            self?.fail(id: id, WireError(.timeout, "the node at \(endpoint) did not answer within \(timeout.milliseconds) ms", requestID: id))
        }
        defer { timer.cancel() }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let failure = state.withLock { s -> WireError? in
                    if let failure = s.failure { return failure }
                    s.pending[id] = Pending(continuation: continuation, progress: progress)
                    return nil
                }
                if let failure {
                    continuation.resume(throwing: failure)
                    return
                }
                let writer = writer
                Task {
                    do {
                        try await writer.send(.request(id: id, request))
                    } catch {
                        self.fail(id: id, WireError(.closed, "cannot send to the node at \(endpoint): the connection is closed"))
                    }
                }
            }
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError(.closed, "request to \(endpoint) failed: \(error)")
        }
    }

    /// Subscribes this connection to the node's status feed. The stream starts with a snapshot
    /// and ends (throwing a `WireError`) when the connection does. Ending the stream closes the client.
    public func subscribe() -> AsyncThrowingStream<FeedMessage, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: FeedMessage.self)
        let result = state.withLock { s -> Result<UInt64, WireError> in
            if let failure = s.failure { return .failure(failure) }
            if s.feed != nil { return .failure(WireError(.badReply, "this client already carries a feed; connect another client to subscribe again")) }
            s.feed = continuation
            defer { s.nextID += 1 }
            s.feedRequestID = s.nextID
            return .success(s.nextID)
        }
        switch result {
        case .failure(let error):
            continuation.finish(throwing: error)
        case .success(let id):
            continuation.onTermination = { [weak self] _ in
                guard let self else { return }
                Task { await self.close() }
            }
            let writer = writer, endpoint = endpoint
            Task {
                do {
                    try await writer.send(.request(id: id, .subscribe))
                } catch {
                    continuation.finish(throwing: WireError(.closed, "cannot subscribe at \(endpoint): the connection is closed"))
                }
            }
        }
        return stream
    }

    /// Closes the connection; pending requests fail with `closed`.
    public func close() async {
        try? await channel.close()
    }

    private func received(_ item: Result<WireMessage, WireError>) {
        switch item {
        case .success(.reply(let id, .progress(let message))):
            let progress = state.withLock { $0.pending[id]?.progress }
            progress?(message)
        case .success(.reply(let id, let reply)):
            let continuation = state.withLock { s in
                if s.feedRequestID == id { return nil as CheckedContinuation<ControlReply, any Error>? }
                return s.pending.removeValue(forKey: id)?.continuation
            }
            if case .error(let error) = reply, state.withLock({ $0.feedRequestID == id }) {
                failFeed(WireError(.badReply, "the node at \(endpoint) refused the subscription: \(error.message)"))
            }
            continuation?.resume(returning: reply)
        case .success(.feed(let message)):
            let feed = state.withLock { $0.feed }
            feed?.yield(message)
        case .success(.error(let error)):
            if let id = error.requestID {
                if state.withLock({ $0.feedRequestID == id }) {
                    failFeed(WireError(error.code, "the node at \(endpoint) refused the subscription: \(error.message)"))
                } else {
                    fail(id: id, WireError(error.code, "the node at \(endpoint) refused the request: \(error.message)", requestID: id))
                }
            } else {
                failAll(WireError(error.code, "the node at \(endpoint) reported: \(error.message)"))
            }
        case .success(let other):
            failAll(WireError(.badReply, "the node at \(endpoint) sent an unexpected '\(other.type)' line"))
            channel.close(promise: nil)
        case .failure(let error):
            failAll(WireError(.badReply, "the node at \(endpoint) sent a line this client cannot read (\(error)); are client and node the same version?"))
            channel.close(promise: nil)
        }
    }

    private func connectionEnded() {
        failAll(WireError(.closed, "the node at \(endpoint) closed the connection"))
    }

    private func fail(id: UInt64, _ error: WireError) {
        let continuation = state.withLock { $0.pending.removeValue(forKey: id)?.continuation }
        continuation?.resume(throwing: error)
    }

    private func failFeed(_ error: WireError) {
        let feed = state.withLock { s in
            defer { s.feed = nil }
            return s.feed
        }
        feed?.finish(throwing: error)
    }

    /// Fails every pending request and the feed; later calls fail with the same error.
    private func failAll(_ error: WireError) {
        let (pending, feed) = state.withLock { s in
            if s.failure == nil { s.failure = error }
            defer { s.pending.removeAll(); s.feed = nil }
            return (Array(s.pending.values), s.feed)
        }
        for p in pending { p.continuation.resume(throwing: error) }
        feed?.finish(throwing: error)
    }
}
