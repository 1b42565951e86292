import KetchShared
import Synchronization

/// Follows one node's status feed for a console: connects, subscribes, and reconnects with
/// exponential backoff whenever the feed breaks.
///
/// "Breaks" includes what TCP does not notice: a message with a sequence gap (resubscribe at
/// once for a fresh snapshot) and silence longer than `silenceTimeout` (a stopped node keeps
/// its sockets open but sends no heartbeats).
public struct FeedFollower: Sendable {
    public enum Event: Sendable, Equatable {
        /// Authenticated and subscribed; a snapshot follows.
        case connected(Endpoint)
        case message(FeedMessage)
        /// The feed stopped; `reason` is one line for the console. A reconnect follows.
        case disconnected(reason: String)
    }

    public struct Options: Sendable {
        public var connectTimeout: Duration = .seconds(1)
        public var initialBackoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(2)
        /// Without any message for this long, the node is treated as gone (heartbeats come every second).
        public var silenceTimeout: Duration = .seconds(3)
        /// Events the console may leave unread; beyond that the subscription restarts.
        public var bufferLimit: Int = 4096
        public init() {}
    }

    public let endpoint: Endpoint
    private let secret: ClusterSecret
    private let options: Options

    public init(endpoint: Endpoint, secret: ClusterSecret, options: Options = Options()) {
        self.endpoint = endpoint; self.secret = secret; self.options = options
    }

    /// Events until the returned stream is dropped or its consumer's task is cancelled.
    public func events() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingOldest(options.bufferLimit))
        let task = Task { await run(continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func run(_ out: AsyncStream<Event>.Continuation) async {
        var backoff = options.initialBackoff
        while !Task.isCancelled {
            let reason: String
            var delivered = false
            do throws(WireError) {
                let client = try await APIClient.connect(to: endpoint, secret: secret, timeout: options.connectTimeout)
                out.yield(.connected(endpoint))
                reason = await follow(client, out: out, delivered: &delivered)
                await client.close()
            } catch {
                reason = error.description
            }
            if Task.isCancelled { break }
            out.yield(.disconnected(reason: reason))
            // A feed that worked resets the backoff; repeated failures double it up to the cap.
            backoff = delivered ? options.initialBackoff : min(backoff * 2, options.maxBackoff)
            try? await Task.sleep(for: delivered ? .zero : backoff)
        }
        out.finish()
    }

    /// Forwards one subscription's messages; returns why it ended.
    private func follow(_ client: APIClient, out: AsyncStream<Event>.Continuation, delivered: inout Bool) async -> String {
        let lastHeard = LockedValue(ContinuousClock.now)
        let silence = options.silenceTimeout
        let endpoint = endpoint
        let watchdog = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: silence / 4)
                if ContinuousClock.now - lastHeard.withLock({ $0 }) > silence {
                    await client.close()
                    return true
                }
            }
            return false
        }
        defer { watchdog.cancel() }
        var expected: UInt64 = 0
        do {
            for try await message in client.subscribe() {
                lastHeard.withLock { $0 = .now }
                if expected == 0 {
                    guard case .snapshot = message else {
                        return "the node at \(endpoint) did not start its feed with a snapshot"
                    }
                }
                if message.sequence != expected {
                    return "sequence gap on the feed of \(endpoint) (expected \(expected), got \(message.sequence)); resubscribing"
                }
                expected += 1
                // A console too slow to drain its buffer must not see a delta after a dropped
                // one: stop this subscription; the next starts with a fresh snapshot.
                if case .dropped = out.yield(.message(message)) {
                    delivered = false
                    return "the console fell behind the feed of \(endpoint); resubscribing"
                }
                delivered = true
            }
            return "the node at \(endpoint) ended the feed"
        } catch {
            watchdog.cancel()
            if await watchdog.value {
                return "no message from \(endpoint) for \(silence.milliseconds) ms; reconnecting"
            }
            return (error as? WireError)?.description ?? "\(error)"
        }
    }
}

/// A value behind a lock, shareable between tasks.
final class LockedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
