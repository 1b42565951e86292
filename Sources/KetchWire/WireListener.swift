import KetchShared
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The listening half shared by `APIServer` and `PeerTransport`: binds, authenticates every
/// connection with `ServerHandshake`, and hands authenticated ones to `serve`. Connections
/// that fail the handshake get one error line and are closed; nothing they send reaches `serve`.
final class WireListener: Sendable {
    typealias Serve = @Sendable (_ reader: inout LineReader, _ writer: LineWriter, _ channel: Channel) async -> Void

    let secret: ClusterSecret
    let role: WireRole
    let port: WirePort
    let limits: WireLimits
    let logger: Logger

    private struct State {
        var serverChannel: Channel?
        var connections: [ObjectIdentifier: Channel] = [:]
        /// Accepted connections no one has taken yet: see `adopt`.
        var pending: [ObjectIdentifier: LineChannel] = [:]
        var acceptTask: Task<Void, Never>?
        var stopped = false
    }
    private let state = Mutex(State())

    init(secret: ClusterSecret, role: WireRole, port: WirePort, limits: WireLimits, logger: Logger) {
        self.secret = secret; self.role = role; self.port = port; self.limits = limits; self.logger = logger
    }

    /// Binds and starts accepting; returns the bound endpoint (useful with port 0).
    func start(host: String, port bindPort: Int, serve: @escaping Serve) async throws(WireError) -> Endpoint {
        let maxLine = limits.maxLineBytes
        let server: NIOAsyncChannel<LineChannel, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: bindPort) { [self] channel in
                    channel.makeLineChannel(maxLineBytes: maxLine).map { connection in
                        self.adopt(connection)
                        return connection
                    }
                }
        } catch {
            throw WireError(.unreachable, "cannot listen on \(host):\(bindPort) for the \(port.rawValue) port: \(error); is another process using it, and does \(host) name an address of this machine?")
        }
        let bound = Endpoint(addr: host, port: server.channel.localAddress?.port ?? bindPort)
        let task = Task { [self] in
            _ = try? await server.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            group.addTask { await self.handle(connection, serve: serve) }
                        }
                    } catch {
                        logger.debug("accept loop ended", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        let stoppedEarly = state.withLock { s in
            s.serverChannel = server.channel
            s.acceptTask = task
            return s.stopped
        }
        if stoppedEarly { await shutdown() }
        logger.info("listening", metadata: ["wire.port": "\(port.rawValue)", "endpoint": "\(bound)"])
        return bound
    }

    /// Stops accepting, closes every connection and waits for their tasks to end.
    func shutdown() async {
        let (server, connections, task) = state.withLock { s in
            s.stopped = true
            return (s.serverChannel, Array(s.connections.values), s.acceptTask)
        }
        try? await server?.close()
        for c in connections { try? await c.close() }
        await task?.value
        // The accept loop has ended; whatever it never got to is closed here.
        let leftovers = state.withLock { s in
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        for connection in leftovers { await Self.discard(connection) }
    }

    /// Holds every accepted connection from the moment it exists until `handle` or `shutdown`
    /// takes it. An NIOAsyncChannel dropped before `executeThenClose` traps the whole process,
    /// and NIO drops one whenever a connection is accepted just as the server channel closes
    /// (its handoff to the accept loop finds the stream finished). CI died of exactly that.
    /// Runs on the connection's event loop.
    private func adopt(_ connection: LineChannel) {
        let id = ObjectIdentifier(connection.channel)
        let stopped = state.withLock { s in
            s.pending[id] = connection
            return s.stopped
        }
        // Shutdown may already have swept `pending`: then no one else will take this one.
        if stopped { Task { if let c = self.take(id) { await Self.discard(c) } } }
    }

    private func take(_ id: ObjectIdentifier) -> LineChannel? {
        state.withLock { s in s.pending.removeValue(forKey: id) }
    }

    private static func discard(_ connection: LineChannel) async {
        try? await connection.executeThenClose { _, _ in }
    }

    private func register(_ channel: Channel) -> Bool {
        state.withLock { s in
            if s.stopped { return false }
            s.connections[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    private func unregister(_ channel: Channel) {
        _ = state.withLock { s in s.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    private func handle(_ accepted: LineChannel, serve: Serve) async {
        let channel = accepted.channel
        // Taken from `pending`, or shutdown already has it (and closes it).
        guard let connection = take(ObjectIdentifier(channel)) else { return }
        guard register(channel) else {
            await Self.discard(connection)
            return
        }
        defer { unregister(channel) }
        let remote = channel.remoteAddress.map { address in
            address.ipAddress.map { "\($0):\(address.port ?? 0)" } ?? "\(address)"
        } ?? "unknown"
        try? await connection.executeThenClose { inbound, outbound in
            var reader = LineReader(inbound, port: port)
            let writer = LineWriter(outbound: outbound)
            let handshake = ServerHandshake(secret: secret, role: role, port: port)
            // A silent client must not hold a connection open forever.
            let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(limits.handshakeTimeout)) {
                channel.close(promise: nil)
            }
            defer { deadline.cancel() }
            try await writer.send(handshake.hello)
            guard let first = await reader.next() else { return }
            deadline.cancel()
            let verdict: Result<WireMessage, WireError>
            switch first {
            case .failure(let error): verdict = .failure(error)
            case .success(let message): verdict = handshake.receive(message)
            }
            switch verdict {
            case .failure(let error):
                logger.warning("refused connection", metadata: ["wire.port": "\(port.rawValue)", "peer.address": "\(remote)", "error.code": "\(error.code)"])
                await writer.trySend(.error(error))
                await Self.closeGracefully(&reader, channel: channel)
            case .success(let welcome):
                try await writer.send(welcome)
                logger.debug("authenticated connection", metadata: ["wire.port": "\(port.rawValue)", "peer.address": "\(remote)"])
                await serve(&reader, writer, channel)
            }
        }
    }

    /// Half-closes our side and drains what the other side still sends (for at most a second),
    /// so the error line we just wrote is not lost to a TCP reset.
    static func closeGracefully(_ reader: inout LineReader, channel: Channel) async {
        try? await channel.close(mode: .output)
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        while await reader.next() != nil {}
        deadline.cancel()
        try? await channel.close()
    }
}

/// Counts requests in flight on one connection.
final class InFlightCounter: Sendable {
    private let count = Mutex(0)
    func tryAcquire(limit: Int) -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }
    func release() { count.withLock { $0 -= 1 } }
}
