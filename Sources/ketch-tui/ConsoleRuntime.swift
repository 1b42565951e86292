import Foundation
import KetchConsole
import KetchShared
import KetchWire

/// Runs the console: one feed follower per member, control requests on demand, and the key
/// loop that feeds every message through `update` and paints what `render` draws.
final class ConsoleRuntime {
    let config: TUIConfig
    let secret: ClusterSecret
    let inbox = Inbox()
    private var followers: [String: Task<Void, Never>] = [:]
    /// How often ages and lease bars on screen move when nothing else happens.
    static let tickInterval = Span.milliseconds(500)
    /// Feed traffic repaints at most this often; a key repaints at once.
    static let frameInterval = Span.milliseconds(500)

    init(config: TUIConfig, secret: ClusterSecret) {
        self.config = config
        self.secret = secret
    }

    static func now() -> ConsoleTime {
        var mono = timespec(), wall = timespec()
        clock_gettime(CLOCK_BOOTTIME, &mono)
        clock_gettime(CLOCK_REALTIME, &wall)
        return ConsoleTime(monotonic: Instant(nanoseconds: Int64(mono.tv_sec) * 1_000_000_000 + Int64(mono.tv_nsec)),
                           wallUnixMs: Int64(wall.tv_sec) * 1000 + Int64(wall.tv_nsec) / 1_000_000)
    }

    func follow(_ member: String) {
        followers[member]?.cancel()
        guard let endpoint = config.endpoints[member] else { return }
        let follower = FeedFollower(endpoint: endpoint, secret: secret)
        let inbox = inbox
        followers[member] = Task.detached {
            for await event in follower.events() {
                switch event {
                case .connected: inbox.post(.feed(endpoint: member, event: .connected))
                case .message(let m): inbox.post(.feed(endpoint: member, event: .message(m)))
                case .disconnected(let reason): inbox.post(.feed(endpoint: member, event: .disconnected(reason: reason)))
                }
            }
        }
    }

    /// Sends a control request to the first member that answers, live ones first.
    func send(_ id: Int, _ request: ControlRequest, model: ConsoleModel) {
        let live = config.members.filter { model.cluster.reporters[$0]?.isLive == true }
        let order = live + config.members.filter { !live.contains($0) }
        let endpoints = order.compactMap { config.endpoints[$0] }
        let secret = secret, inbox = inbox
        Task.detached {
            var lastError = "no member configured"
            for endpoint in endpoints {
                let client: APIClient
                do {
                    client = try await APIClient.connect(to: endpoint, secret: secret, timeout: .seconds(2))
                } catch {
                    lastError = "\(error)"
                    continue
                }
                let outcome: ControlOutcome
                do {
                    let reply = try await client.request(request, timeout: .seconds(120)) { inbox.post(.controlProgress(request: id, message: $0)) }
                    switch reply {
                    case .ok(let message): outcome = .ok(message)
                    case .error(let e): outcome = .failed("\(e.code): \(e.message)")
                    case .progress(let message): outcome = .ok(message)
                    case .conninfo(let s): outcome = .ok(s)
                    case .resources(let list): outcome = .ok("\(list.data.count) resource(s)")
                    }
                } catch {
                    outcome = .failed("\(error)")
                }
                await client.close()
                inbox.post(.controlReply(request: id, reply: outcome))
                return
            }
            inbox.post(.controlReply(request: id, reply: .failed("no member answered: \(lastError)")))
        }
    }

    func loadSpec(_ path: String) {
        switch SpecFile.load(path: path) {
        case .success(let spec): inbox.post(.specLoaded(path: path, result: .loaded(spec)))
        case .failure(let e): inbox.post(.specLoaded(path: path, result: .failed(e.message)))
        }
    }

    /// The key loop. Returns when the user quits.
    func run(terminal: Terminal) {
        var model = ConsoleModel(endpoints: config.members, now: Self.now())
        for m in config.members { follow(m) }
        var dirty = true, keyPressed = false
        var lastTick = Self.now().monotonic
        var lastFrame = Instant.zero
        loop: while true {
            var messages = inbox.drain()
            switch terminal.read() {
            case .key(let k): messages.append(.key(k)); keyPressed = true
            case .resize: terminal.readSize(); terminal.invalidate(); dirty = true; keyPressed = true
            case .none: break
            }
            let now = Self.now()
            if now.monotonic - lastTick >= Self.tickInterval {
                lastTick = now.monotonic
                messages.append(.tick)
            }
            for message in messages {
                let (next, commands) = ConsoleModel.update(model, message, now: now)
                model = next
                dirty = true
                for command in commands {
                    switch command {
                    case .quit: break loop
                    case .send(let id, let request): send(id, request, model: model)
                    case .resubscribe(let member): follow(member)
                    case .loadSpec(let path): loadSpec(path)
                    }
                }
            }
            // Heartbeats from every member would otherwise repaint several times a second.
            if dirty && (keyPressed || now.monotonic - lastFrame >= Self.frameInterval) {
                terminal.paint(ConsoleRenderer.render(model, size: terminal.size, options: terminal.options))
                dirty = false
                keyPressed = false
                lastFrame = now.monotonic
            }
        }
        for task in followers.values { task.cancel() }
    }
}
