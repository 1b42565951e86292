import Foundation
import Logging
import KetchShared
@testable import KetchWire

let testSecret = try! ClusterSecret(bytes: Array("0123456789abcdef-test-secret".utf8))
/// Tests check behaviour, not log lines; keep their output readable.
let quietLogger: Logger = {
    var logger = Logger(label: "ketch.wire.test")
    logger.logLevel = .critical
    return logger
}()

let otherSecret = try! ClusterSecret(bytes: Array("fedcba9876543210-other-secret".utf8))

/// A handler that answers `get` with a fixed list, reports progress for failover, and serves
/// a publisher's feed.
struct TestHandler: APIHandler {
    let publisher: FeedPublisher
    /// How many feed subscriptions were asked for (a follower resubscribes after a break).
    let subscriptions = LockedValue(0)

    init(publisher: FeedPublisher = FeedPublisher()) { self.publisher = publisher }

    func handle(_ request: ControlRequest, progress: @escaping @Sendable (String) async -> Void) async -> ControlReply {
        switch request {
        case .get(let kind, _):
            return .resources(ResourceList(data: [
                Resource(attributes: .object([("name", .string("server1"))]), id: "id-1", type: kind),
            ]))
        case .failover(let name, _):
            await progress("closing epoch of \(name)")
            await progress("promoting")
            return .ok(message: "failed over \(name)")
        case .deleteReplica(let name):
            return .error(ErrorReply(code: "not-found", message: "no replica named \(name)"))
        default:
            return .ok(message: "done")
        }
    }

    func subscribe() async -> AsyncStream<FeedMessage> {
        subscriptions.withLock { $0 += 1 }
        return await publisher.subscribe()
    }
}

/// Runs blocking work (sockets, child processes) on a plain thread: the cooperative pool has
/// one thread per core, and a blocked one would starve the servers under test.
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}

/// A raw TCP connection for sending arbitrary bytes (misbehaving clients). Used by one test at
/// a time; its async methods do the blocking calls off the cooperative pool.
final class RawSocket: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // No close here: init has set every property, so a throw still runs deinit, which closes
        // fd; closing it twice could close a descriptor NIO has since been given.
        if rc != 0 { throw POSIXError(.ECONNREFUSED) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) async {
        await offPool { self.writeBlocking(bytes) }
    }

    func write(_ text: String) async { await write(Array(text.utf8)) }

    private func writeBlocking(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    private var pending: [UInt8] = []

    /// The next line, or nil on EOF/timeout.
    func readLine() async -> String? {
        await offPool { self.readLineBlocking() }
    }

    private func readLineBlocking() -> String? {
        while true {
            if let nl = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                return line
            }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return nil }
            pending.append(contentsOf: buf[..<n])
        }
    }

    /// Reads until EOF; true if the server closed the connection (rather than timing out).
    func readUntilClosed() async -> Bool {
        await offPool { self.readUntilClosedBlocking() }
    }

    private func readUntilClosedBlocking() -> Bool {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    func decodedLine() async -> WireMessage? {
        guard let line = await readLine() else { return nil }
        return try? WireCodec.decode(Array(line.utf8), port: .api)
    }
}

/// Authenticates a raw socket as a client, the way APIClient would.
func authenticate(_ socket: RawSocket, secret: ClusterSecret = testSecret, role: WireRole = .client) async -> WireMessage? {
    guard let hello = await socket.decodedLine() else { return nil }
    var handshake = ClientHandshake(secret: secret, role: role, peer: "test")
    guard case .success(.send(let auth)) = handshake.receive(hello) else { return nil }
    await socket.write(try! WireCodec.encode(auth))
    return await socket.decodedLine()
}

func startServer(handler: some APIHandler = TestHandler(), limits: WireLimits = WireLimits()) async throws -> (APIServer, Endpoint) {
    let server = APIServer(secret: testSecret, limits: limits, logger: quietLogger)
    let endpoint = try await server.start(host: "127.0.0.1", port: 0, handler: handler)
    return (server, endpoint)
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// A listening socket that accepts connections (in the kernel backlog) but never reads or writes.
final class RawListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        if !ok { port = 0; throw POSIXError(.EADDRINUSE) }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }
}
