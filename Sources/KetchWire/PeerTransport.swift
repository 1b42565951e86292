import KetchShared
import Logging
import NIOCore
import Synchronization

/// The member port (7459): node-to-node `PeerEnvelope`s, authenticated with role `peer`.
///
/// Inbound: every authenticated connection's envelopes arrive on `envelopes`, in order per
/// connection. Outbound: `send(_:to:)` is fire-and-forget over one cached connection per
/// endpoint. Why drop instead of queue: membership probes are periodic and only the latest
/// matter, so a dead or stalled peer must cost a bounded amount of memory and never delay
/// messages to live peers.
public final class PeerTransport: Sendable {
    /// Settings for outbound connections.
    public struct Options: Sendable {
        /// TCP connect timeout per attempt.
        public var connectTimeout: Duration = .milliseconds(250)
        /// Time the peer has to complete the handshake (a stopped process accepts TCP but never answers).
        public var handshakeTimeout: Duration = .milliseconds(500)
        /// Envelopes waiting per endpoint; beyond this the oldest are dropped.
        public var maxQueuedPerPeer: Int = 128
        /// Envelopes waiting in `envelopes` for the node to read; beyond this the oldest are dropped.
        public var maxInboundBuffered: Int = 4096
        public var limits = WireLimits()
        public init() {}
    }

    /// Authenticated inbound envelopes from every peer. There is one stream per transport; read
    /// it from one task.
    public let envelopes: AsyncStream<PeerEnvelope>
    private let continuation: AsyncStream<PeerEnvelope>.Continuation
    private let listener: WireListener
    private let options: Options
    private let secret: ClusterSecret
    private let logger: Logger
    private let peers = Mutex<[Endpoint: OutboundPeer]>([:])

    public init(secret: ClusterSecret, options: Options = Options(), logger: Logger = Logger(label: "ketch.wire.peer")) {
        (envelopes, continuation) = AsyncStream.makeStream(of: PeerEnvelope.self, bufferingPolicy: .bufferingNewest(options.maxInboundBuffered))
        listener = WireListener(secret: secret, role: .peer, port: .member, limits: options.limits, logger: logger)
        self.options = options
        self.secret = secret
        self.logger = logger
    }

    /// Binds the member port (port 0 picks a free one); returns the bound endpoint.
    @discardableResult
    public func start(host: String, port: Int) async throws(WireError) -> Endpoint {
        let continuation = continuation
        let limits = options.limits
        let logger = logger
        return try await listener.start(host: host, port: port) { reader, writer, channel in
            var badLines = 0
            while let item = await reader.next() {
                switch item {
                case .success(.envelope(let envelope)):
                    continuation.yield(envelope)
                case .success(.error(let error)):
                    logger.debug("peer reported an error", metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"])
                case .success(let other):
                    badLines += 1
                    await writer.trySend(.error(WireError(.unexpectedMessage, "a '\(other.type)' line is not accepted on the member port after the handshake; send envelope lines")))
                case .failure(let error):
                    badLines += 1
                    await writer.trySend(.error(error))
                    if error.code == .lineTooLong { badLines = limits.maxBadLines }
                }
                if badLines >= limits.maxBadLines {
                    await WireListener.closeGracefully(&reader, channel: channel)
                    return
                }
            }
        }
    }

    /// Queues `envelope` for `endpoint` and returns at once. Delivery is best effort: if the
    /// peer cannot be reached within the connect and handshake timeouts, what is queued for it
    /// is dropped and the next `send` tries again.
    public func send(_ envelope: PeerEnvelope, to endpoint: Endpoint) {
        let line: [UInt8]
        do throws(WireError) {
            line = try WireCodec.encode(.envelope(envelope))
        } catch {
            logger.error("cannot encode envelope", metadata: ["error": "\(error)"])
            return
        }
        let peer = peers.withLock { peers in
            if let peer = peers[endpoint] { return peer }
            let peer = OutboundPeer(endpoint: endpoint, secret: secret, options: options, logger: logger)
            peers[endpoint] = peer
            return peer
        }
        peer.enqueue(ByteBuffer(bytes: line))
    }

    /// Envelopes dropped so far for `endpoint` because it was unreachable or too slow.
    public func droppedCount(for endpoint: Endpoint) -> Int {
        peers.withLock { $0[endpoint] }?.droppedCount ?? 0
    }

    /// Closes the listener and every outbound connection, and ends `envelopes`.
    public func shutdown() async {
        await listener.shutdown()
        let all = peers.withLock { peers in
            defer { peers.removeAll() }
            return Array(peers.values)
        }
        for peer in all { await peer.close() }
        continuation.finish()
    }
}

/// One remote endpoint's outbound queue and cached connection.
final class OutboundPeer: Sendable {
    private struct State {
        var queue: [ByteBuffer] = []
        var draining = false
        var dropped = 0
        var connection: Connection?
        var closed = false
    }

    private struct Connection: Sendable {
        let channel: Channel
        let writer: LineWriter
    }

    let endpoint: Endpoint
    private let secret: ClusterSecret
    private let options: PeerTransport.Options
    private let logger: Logger
    private let state = Mutex(State())

    init(endpoint: Endpoint, secret: ClusterSecret, options: PeerTransport.Options, logger: Logger) {
        self.endpoint = endpoint; self.secret = secret; self.options = options; self.logger = logger
    }

    var droppedCount: Int { state.withLock { $0.dropped } }

    func enqueue(_ line: ByteBuffer) {
        let startDrain = state.withLock { s -> Bool in
            if s.closed { s.dropped += 1; return false }
            if s.queue.count >= options.maxQueuedPerPeer {
                s.queue.removeFirst()
                s.dropped += 1
            }
            s.queue.append(line)
            if s.draining { return false }
            s.draining = true
            return true
        }
        if startDrain { Task { await self.drain() } }
    }

    func close() async {
        let channel = state.withLock { s in
            s.closed = true
            s.dropped += s.queue.count
            s.queue.removeAll()
            defer { s.connection = nil }
            return s.connection?.channel
        }
        try? await channel?.close()
    }

    private func drain() async {
        while true {
            let batch = state.withLock { s -> [ByteBuffer] in
                if s.queue.isEmpty || s.closed { s.draining = false; return [] }
                defer { s.queue.removeAll() }
                return s.queue
            }
            if batch.isEmpty { return }
            guard let connection = await connection() else {
                state.withLock { s in
                    s.dropped += batch.count + s.queue.count
                    s.queue.removeAll()
                    s.draining = false
                }
                return
            }
            do {
                try await connection.writer.outbound.write(contentsOf: batch)
            } catch {
                state.withLock { s in
                    s.dropped += batch.count
                    if s.connection?.channel === connection.channel { s.connection = nil }
                }
                connection.channel.close(promise: nil)
            }
        }
    }

    /// The cached connection, or a new authenticated one; nil when the peer is unreachable.
    private func connection() async -> Connection? {
        if let existing = state.withLock({ $0.connection }), existing.channel.isActive { return existing }
        let channel: LineChannel
        do throws(WireError) {
            channel = try await WireConnect.open(to: endpoint, timeout: options.connectTimeout, limits: options.limits)
        } catch {
            logger.debug("peer unreachable", metadata: ["peer.endpoint": "\(endpoint)", "error": "\(error.message)"])
            return nil
        }
        let ready = ReadySignal<Connection?>()
        let secret = secret, endpoint = endpoint, logger = logger, timeout = options.handshakeTimeout
        Task {
            try? await channel.executeThenClose { inbound, outbound in
                var reader = LineReader(inbound, port: .member)
                let writer = LineWriter(outbound: outbound)
                let deadline = channel.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                    channel.channel.close(promise: nil)
                }
                var handshake = ClientHandshake(secret: secret, role: .peer, peer: "the node at \(endpoint)")
                var authenticated = false
                while !authenticated, let item = await reader.next() {
                    switch item.flatMap({ handshake.receive($0) }) {
                    case .success(.send(let message)):
                        try await writer.send(message)
                    case .success(.authenticated):
                        authenticated = true
                    case .failure(let error):
                        logger.warning("peer handshake failed", metadata: ["peer.endpoint": "\(endpoint)", "error.code": "\(error.code)", "error.message": "\(error.message)"])
                        ready.resolve(nil)
                        return
                    }
                }
                deadline.cancel()
                guard authenticated else {
                    logger.debug("peer closed during handshake", metadata: ["peer.endpoint": "\(endpoint)"])
                    ready.resolve(nil)
                    return
                }
                ready.resolve(Connection(channel: channel.channel, writer: writer))
                // Peers send nothing back on this connection except error lines about our lines.
                while let item = await reader.next() {
                    if case .success(.error(let error)) = item {
                        logger.debug("peer reported an error", metadata: ["peer.endpoint": "\(endpoint)", "error.code": "\(error.code)", "error.message": "\(error.message)"])
                    }
                }
            }
            ready.resolve(nil)
            self.forget(channel.channel)
        }
        guard let connection = await ready.value else { return nil }
        let stillOpen = state.withLock { s -> Bool in
            if s.closed { return false }
            s.connection = connection
            return true
        }
        if !stillOpen {
            connection.channel.close(promise: nil)
            return nil
        }
        return connection
    }

    private func forget(_ channel: Channel) {
        state.withLock { s in
            if s.connection?.channel === channel { s.connection = nil }
        }
    }
}

/// A one-shot value that one task sets and another awaits; later `resolve` calls are ignored.
final class ReadySignal<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var resolved = false
        var waiters: [CheckedContinuation<Value, Never>] = []
    }
    private let state = Mutex(State())

    func resolve(_ value: Value) {
        let waiters = state.withLock { s -> [CheckedContinuation<Value, Never>] in
            if s.resolved { return [] }
            s.resolved = true
            s.value = value
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume(returning: value) }
    }

    var value: Value {
        get async {
            await withCheckedContinuation { c in
                let ready = state.withLock { s -> Value? in
                    if s.resolved { return s.value }
                    s.waiters.append(c)
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        }
    }
}
