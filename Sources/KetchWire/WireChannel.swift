import KetchShared
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Limits that keep one bad or slow connection from hurting a node.
public struct WireLimits: Sendable {
    /// Longest accepted line, excluding its newline.
    public var maxLineBytes: Int = LineFramer.defaultMaxLineBytes
    /// Bad lines an authenticated connection may send before it is closed.
    public var maxBadLines: Int = 3
    /// Time a new inbound connection has to authenticate before it is closed.
    public var handshakeTimeout: Duration = .seconds(5)
    /// Requests one api connection may have in flight; more are answered `busy`.
    public var maxRequestsInFlight: Int = 32
    public init() {}
}

/// A connection carrying framed lines in and raw bytes out.
typealias LineChannel = NIOAsyncChannel<LineFramer.Frame, ByteBuffer>

/// Turns TCP bytes into `LineFramer` frames on the event loop.
final class LineFrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = LineFramer.Frame

    private var framer: LineFramer

    init(maxLineBytes: Int) { framer = LineFramer(maxLineBytes: maxLineBytes) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let frames = buffer.withUnsafeReadableBytes { framer.push($0) }
        for frame in frames { context.fireChannelRead(wrapInboundOut(frame)) }
    }
}

extension Channel {
    /// Installs the line framer and wraps the channel for async use. Must run on the event loop.
    func makeLineChannel(maxLineBytes: Int) -> EventLoopFuture<LineChannel> {
        eventLoop.makeCompletedFuture {
            try pipeline.syncOperations.addHandler(LineFrameHandler(maxLineBytes: maxLineBytes))
            return try LineChannel(wrappingChannelSynchronously: self)
        }
    }
}

/// Reads decoded lines from a connection's inbound stream.
struct LineReader {
    private var iterator: NIOAsyncChannelInboundStream<LineFramer.Frame>.AsyncIterator
    let port: WirePort

    init(_ inbound: NIOAsyncChannelInboundStream<LineFramer.Frame>, port: WirePort) {
        iterator = inbound.makeAsyncIterator()
        self.port = port
    }

    /// The next line, decoded, or the error that line caused; nil when the connection closed.
    mutating func next() async -> Result<WireMessage, WireError>? {
        let frame: LineFramer.Frame?
        do {
            frame = try await iterator.next()
        } catch {
            return nil
        }
        switch frame {
        case nil: return nil
        case .tooLong(let error): return .failure(error)
        case .line(let bytes):
            do throws(WireError) {
                return .success(try WireCodec.decode(bytes, port: port))
            } catch {
                return .failure(error)
            }
        }
    }
}

/// Writes whole lines; safe to share between tasks (each line is written atomically).
struct LineWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    func send(_ message: WireMessage) async throws {
        let bytes = try WireCodec.encode(message)
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Best effort: used for error lines just before closing.
    func trySend(_ message: WireMessage) async {
        try? await send(message)
    }
}

enum WireConnect {
    /// Opens a TCP connection with framing installed, mapping every failure to an `unreachable`
    /// `WireError` that names `host:port` and the reason.
    static func open(to endpoint: Endpoint, timeout: Duration, limits: WireLimits) async throws(WireError) -> LineChannel {
        let maxLine = limits.maxLineBytes
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: endpoint.addr, port: endpoint.port) { channel in
                    channel.makeLineChannel(maxLineBytes: maxLine)
                }
        } catch {
            throw WireError(.unreachable, "cannot reach \(endpoint): \(describeConnectError(error, timeout: timeout)); is ketch-node running there, and are the host and port right?")
        }
    }

    static func describeConnectError(_ error: any Error, timeout: Duration) -> String {
        if let e = error as? ChannelError, case .connectTimeout = e {
            return "timed out after \(timeout.milliseconds) ms"
        }
        if let e = error as? NIOConnectionError {
            if e.connectionErrors.isEmpty, e.dnsAError != nil || e.dnsAAAAError != nil {
                return "the name \(e.host) does not resolve (check /etc/hosts or DNS)"
            }
            if let first = e.connectionErrors.first {
                return describeConnectError(first.error, timeout: timeout)
            }
        }
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case EHOSTUNREACH, ENETUNREACH: return "no route to host"
            case ETIMEDOUT: return "timed out"
            default: return "\(e)"
            }
        }
        if error is SocketAddressError {
            return "the host name does not resolve (check /etc/hosts or DNS)"
        }
        return "\(error)"
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
