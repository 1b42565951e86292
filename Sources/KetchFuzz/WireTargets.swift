import KetchConsole
import KetchCore
import KetchShared

/// The targets that need nothing but the libraries: the framer, and every NDJSON decoder with
/// what its caller does next with a decoded line.
public enum WireTargets {
    public static var all: [FuzzTarget] { [framer, member, request, reply, feed] }

    static func seeds(_ lines: [String]) -> [[UInt8]] { lines.map { Array($0.utf8) } }

    /// Every error a decoder returns travels back to a client as one line: it must be one short
    /// line with a code, whatever the input (a 1 MiB line must not be echoed back).
    public static func checkError(_ e: WireError) -> FuzzFinding? {
        if e.code.rawValue.isEmpty { return FuzzFinding("error-code", "empty code for \(e.message.prefix(80))") }
        if e.message.isEmpty { return FuzzFinding("error-message", "empty message for code \(e.code)") }
        if e.message.contains("\n") || e.message.contains("\r") {
            return FuzzFinding("error-one-line", "\(e.code) message has a line break: \(e.message.prefix(200))")
        }
        if e.message.utf8.count > 2048 {
            return FuzzFinding("error-length", "\(e.code) message is \(e.message.utf8.count) bytes")
        }
        return nil
    }

    /// Decodes one line as a reader on `port` does. A decoded message must be of a type the
    /// port accepts and must survive encode → decode → encode byte for byte (what one node
    /// reads, it can forward or log without changing it).
    static func decode(_ line: ArraySlice<UInt8>, port: WirePort, tally: inout FuzzTally) -> Result<WireMessage, FuzzFinding>? {
        let message: WireMessage
        do {
            message = try WireCodec.decode(line, port: port)
        } catch {
            tally.count(error.code.rawValue)
            if let f = checkError(error) { return .failure(f) }
            return nil
        }
        tally.count("decoded")
        guard port.acceptedTypes.contains(message.type) else {
            return .failure(FuzzFinding("port-type", "a '\(message.type)' line decoded on the \(port) port"))
        }
        do {
            let first = try WireCodec.encode(message)
            let again = try WireCodec.decode(first.dropLast(), port: port)
            let second = try WireCodec.encode(again)
            if first != second {
                return .failure(FuzzFinding("round-trip", "re-encoding changed the line: \(String(decoding: first.prefix(200), as: UTF8.self)) vs \(String(decoding: second.prefix(200), as: UTF8.self))"))
            }
        } catch {
            return .failure(FuzzFinding("round-trip", "a decoded '\(message.type)' line does not re-encode and decode: \(error)"))
        }
        return .success(message)
    }

    /// `LineFramer`, fed the input in chunks cut where the input's own hash says, must produce
    /// exactly what a straightforward reference produces from the whole input, and never hold
    /// more than its limit.
    public static let framer = FuzzTarget(
        name: "framer", summary: "LineFramer: 1 MiB limit, \\r, empty lines, resync after an oversized line, any chunking",
        seeds: seeds(WireSeeds.requests + WireSeeds.feed + ["", "\r", "\n\n", "a\r\r", "x\ny\r\nz"]),
        linesPerInput: 6
    ) {
        { input, tally in
            var rng = SplitMix64(seed: fnv1a(input))
            let limits = [1, 2, 3, 16, 64, 300, 4096, LineFramer.defaultMaxLineBytes]
            let limit = limits[rng.next(below: limits.count)]
            var framer = LineFramer(maxLineBytes: limit)
            var frames: [LineFramer.Frame] = []
            var offset = 0
            while offset < input.count {
                let n = min(input.count - offset, 1 + rng.next(below: rng.next(below: 2) == 0 ? 8 : max(1, input.count / 3)))
                frames += framer.push(input[offset..<(offset + n)])
                offset += n
                if framer.bufferedByteCount > limit {
                    return FuzzFinding("framer-bound", "holds \(framer.bufferedByteCount) bytes with a limit of \(limit)")
                }
            }
            let expected = referenceFrames(input, limit: limit)
            tally.count(expected.isEmpty ? "no-frames" : "frames")
            if frames.count != expected.count || zip(frames, expected).contains(where: { !sameFrame($0, $1) }) {
                return FuzzFinding("framer-reference", "limit \(limit): \(frames.count) frames, reference has \(expected.count)")
            }
            for case .line(let l) in frames where l.contains(0x0A) || l.isEmpty || l.count > limit {
                return FuzzFinding("framer-line", "a line of \(l.count) bytes (limit \(limit)) is empty or holds a newline")
            }
            return nil
        }
    }

    /// The rules of docs/wire.md, written the obvious way over the whole input.
    static func referenceFrames(_ input: [UInt8], limit: Int) -> [LineFramer.Frame] {
        var pieces = input.split(separator: 0x0A, omittingEmptySubsequences: false)
        let tail = pieces.removeLast()
        var out: [LineFramer.Frame] = []
        for piece in pieces {
            if piece.count > limit { out.append(.tooLong(WireError(.lineTooLong, ""))); continue }
            var line = Array(piece)
            if line.last == 0x0D { line.removeLast() }
            if !line.isEmpty { out.append(.line(line)) }
        }
        if tail.count > limit { out.append(.tooLong(WireError(.lineTooLong, ""))) }
        return out
    }

    static func sameFrame(_ a: LineFramer.Frame, _ b: LineFramer.Frame) -> Bool {
        switch (a, b) {
        case let (.line(x), .line(y)): x == y
        case let (.tooLong(e), .tooLong): e.code == .lineTooLong && checkError(e) == nil
        default: false
        }
    }

    /// The member port: envelopes, as a node decodes them and hands them to its membership
    /// table and protocol core. Each input starts from a core that knows the seed replica, so
    /// mutated protocol messages reach real state.
    public static let member = FuzzTarget(
        name: "member", summary: "member port: WireCodec.decode(.member) → Membership.received / KetchCore.handle",
        seeds: seeds(WireSeeds.envelopes + WireSeeds.handshake), linesPerInput: 4
    ) {
        let me = ServerID("23becdbc-20db-4ddd-892c-31a77a0a1714")
        let create = WireSeeds.envelopes.first { $0.contains("\"replicaCreate\"") }!
        guard case .envelope(let setup)? = try? WireCodec.decode(Array(create.utf8), port: .member) else {
            fatalError("the replicaCreate seed no longer decodes; regenerate WireSeeds from docs/wire.md")
        }
        // The starting state is built once and copied per input: both are value types (KetchCore
        // holds no classes), so every input still starts from exactly this state.
        let record = MemberUpdate(server: me, name: "server2", endpoint: Endpoint(addr: "127.0.2.2", port: 7459),
                                  apiEndpoint: Endpoint(addr: "127.0.2.2", port: 7460), incarnation: 1, health: .alive)
        let startMembership = Membership(me: record, seeds: [Endpoint(addr: "127.0.2.1", port: 7459)], seed: 1)
        let start = Instant(nanoseconds: 10_000_000_000)
        var startCore = KetchCore(config: CoreConfig(server: me), bootID: "fuzz")
        if case .ketch(let m) = setup.message { _ = startCore.handle(.received(from: setup.from, m, now: start)) }
        let initialCore = startCore
        return { input, tally in
            var membership = startMembership
            var core = initialCore
            var now = start
            for line in lines(of: input) {
                switch decode(line, port: .member, tally: &tally) {
                case nil: continue
                case .failure(let f)?: return f
                case .success(let message)?:
                    // A type of one port is refused on the other, naming the mistake.
                    if case .envelope = message {
                        do throws(WireError) {
                            _ = try WireCodec.decode(line, port: .api)
                            return FuzzFinding("port-separation", "an envelope line decoded on the api port")
                        } catch where error.code != .unknownType {
                            return FuzzFinding("port-separation", "an envelope on the api port gave \(error.code), not unknown-type")
                        } catch {}
                    }
                    guard case .envelope(let envelope) = message else { continue }
                    now = now + .milliseconds(7)
                    switch envelope.message {
                    case .membership(let m):
                        let out = membership.received(m, now: now)
                        if !out.changes.isEmpty {
                            var view: [ServerID: Bool] = [me: true]
                            for other in membership.others { view[other.record.server] = other.record.health == .alive }
                            _ = core.handle(.membership(view, now: now))
                        }
                    case .ketch(let m):
                        _ = core.handle(.received(from: envelope.from, m, now: now))
                    }
                }
            }
            _ = membership.tick(now: now + .seconds(1))
            _ = core.handle(.tick(now: now + .seconds(1)))
            _ = core.status(now: now + .seconds(1))
            return nil
        }
    }

    /// The api port, server side: request lines as `APIServer` decodes them, and the
    /// validation a node runs on a `createReplica` before anything else (`ReplicaSpec.validate`).
    /// A refusal must be one line with code `bad-spec` and must never contain the password.
    public static let request = FuzzTarget(
        name: "request", summary: "api port requests: WireCodec.decode(.api) → ControlRequest → ReplicaSpec.validate",
        seeds: seeds(WireSeeds.requests + WireSeeds.handshake)
    ) {
        { input, tally in
            for line in lines(of: input) {
                switch decode(line, port: .api, tally: &tally) {
                case nil: continue
                case .failure(let f)?: return f
                case .success(.request(_, .createReplica(let spec)))?:
                    do throws(ErrorReply) {
                        try spec.validate()
                        tally.count("spec-valid")
                    } catch {
                        tally.count("spec-refused")
                        if error.code != "bad-spec" { return FuzzFinding("spec-code", "validate() refused with code \(error.code)") }
                        if error.message.contains("\n") || error.message.isEmpty || error.message.utf8.count > 2048 {
                            return FuzzFinding("spec-message", "validate() message is not one short line: \(error.message.prefix(200))")
                        }
                        // The password shows only if it appears because of the password: the
                        // same spec with another password of the same length must not show it
                        // (a password such as "quorumGroupSize" or "redacted" legitimately
                        // matches a label or another field; seed 6101 found both).
                        let pw = spec.dbConfig.password
                        var other = spec
                        other.dbConfig.password = String(repeating: pw.hasPrefix("Q") ? "R" : "Q", count: pw.count)
                        var otherMessage = ""
                        do throws(ErrorReply) { try other.validate() } catch { otherMessage = error.message }
                        if pw.count >= 6, error.message.contains(pw), !otherMessage.contains(pw) {
                            return FuzzFinding("spec-password", "validate() message shows the password")
                        }
                        if pw.count >= 6, "\(spec)".contains(pw), !"\(other)".contains(pw) {
                            return FuzzFinding("spec-description", "describing a spec shows the password")
                        }
                    }
                case .success?: continue
                }
            }
            return nil
        }
    }

    /// The api port, client side: reply lines as `APIClient` (ketchctl, ketch-tui) decodes them.
    public static let reply = FuzzTarget(
        name: "reply", summary: "api port replies as clients decode them: WireCodec.decode(.api) → ControlReply",
        seeds: seeds(WireSeeds.replies + WireSeeds.handshake)
    ) {
        { input, tally in
            for line in lines(of: input) {
                switch decode(line, port: .api, tally: &tally) {
                case nil: continue
                case .failure(let f)?: return f
                case .success(.reply(_, .resources(let list)))?:
                    // ketchctl looks attributes up by name and prints them; both walk every value.
                    for r in list.data { _ = r.attributes["name"]; _ = r.attributes.hashValue }
                case .success?: continue
                }
            }
            return nil
        }
    }

    /// The status feed as ketch-tui takes it: decoded lines go through the console's update
    /// (snapshot, deltas, gaps, silence) and the screen is rendered from the result.
    public static let feed = FuzzTarget(
        name: "feed", summary: "feed lines as ketch-tui takes them: decode → ConsoleModel.update → ConsoleRenderer.render",
        seeds: seeds(WireSeeds.feed), linesPerInput: 5
    ) {
        { input, tally in
            let start = ConsoleTime(monotonic: Instant(nanoseconds: 5_000_000_000), wallUnixMs: 1_764_244_800_000)
            var model = ConsoleModel(endpoints: ["127.0.2.1:7460"], now: start)
            var time = start
            for line in lines(of: input) {
                switch decode(line, port: .api, tally: &tally) {
                case nil: continue
                case .failure(let f)?: return f
                case .success(.feed(let message))?:
                    time = time.adding(ms: 150)
                    model = ConsoleModel.update(model, .feed(endpoint: "127.0.2.1:7460", event: .message(message)), now: time).0
                case .success?: continue
                }
            }
            model = ConsoleModel.update(model, .tick, now: time.adding(ms: 1000)).0
            for key in [ConsoleKey.tab, .down, .enter] {
                model = ConsoleModel.update(model, .key(key), now: time.adding(ms: 1100)).0
            }
            let grid = ConsoleRenderer.render(model, size: GridSize(width: 100, height: 30))
            if grid.size != GridSize(width: 100, height: 30) { return FuzzFinding("render-size", "rendered \(grid.size)") }
            return nil
        }
    }
}

/// FNV-1a: a fixed hash of an input, so choices a target makes from it replay exactly.
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}
