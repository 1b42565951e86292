import Crypto
import Foundation
import KetchShared
#if canImport(Glibc)
import Glibc
#endif

/// Sends mutated request lines to a running ketch-node's api port and checks how it answers:
/// every bad line gets exactly one error line whose code is the one the codec gives locally;
/// every request gets a reply with its id; the third bad line also gets `too-many-errors` and
/// the connection is closed; a line over 1 MiB gets `line-too-long` and a close. At the end
/// the node must still answer a `get runtime` on a fresh connection.
///
/// A plain blocking socket and its own handshake (written from docs/wire.md, not borrowed from
/// KetchWire), so the probe sees exactly the bytes the node writes. Requests that would change
/// the cluster (a valid `createReplica`) or turn the connection into a feed (`subscribe`) are
/// not sent; lines of type `error` are not sent either, since the node rightly never answers them.
public enum NodeProbe {
    struct ProbeError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// One connection to the node, authenticated, reading lines with a timeout.
    final class Connection {
        let fd: Int32
        private var buffer: [UInt8] = []
        var badLines = 0

        init(host: String, port: Int, secret: [UInt8], timeoutSeconds: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ProbeError("socket() failed: errno \(errno)") }
            var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw ProbeError("'\(host)' is not an IPv4 address") }
            let rc = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { throw ProbeError("cannot connect to \(host):\(port): errno \(errno)") }
            try handshake(secret: secret)
        }

        /// The only close: a throw from init above still runs deinit (every property is set),
        /// so closing there too would close the descriptor twice.
        deinit { close(fd) }

        private func handshake(secret: [UInt8]) throws {
            guard let helloLine = readLine(), case .hello(let hello)? = try? WireCodec.decode(helloLine, port: .api) else {
                throw ProbeError("the node did not start with a hello line")
            }
            let clientNonce = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let key = SymmetricKey(data: secret)
            func mac(_ side: String) -> String {
                let text = "ketch-wire-v1|\(side)|client|\(hello.nonce)|\(clientNonce)"
                return HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key).map { String(format: "%02x", $0) }.joined()
            }
            try send(WireCodec.encode(.authenticate(Authenticate(nonce: clientNonce, role: .client, mac: mac("client")))))
            guard let welcomeLine = readLine(), case .welcome(let welcome)? = try? WireCodec.decode(welcomeLine, port: .api) else {
                throw ProbeError("the node did not welcome this client; is the secret file the cluster's?")
            }
            guard welcome.mac == mac("server") else { throw ProbeError("the node's welcome proof does not match the secret") }
        }

        func send(_ bytes: [UInt8]) throws {
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { throw ProbeError("send failed: errno \(errno)") }
                sent += n
            }
        }

        /// The next line, or nil at end of stream or after the read timeout.
        func readLine() -> [UInt8]? {
            while true {
                if let nl = buffer.firstIndex(of: 0x0A) {
                    let line = Array(buffer[..<nl])
                    buffer.removeSubrange(...nl)
                    return line
                }
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return nil }
                buffer += chunk[..<n]
            }
        }

        /// True when the node closed the connection (reads end of stream, not a timeout).
        func isClosedByPeer() -> Bool {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }
    }

    /// What the node must answer to one framed line.
    enum Expected {
        case reply(id: UInt64)
        case error(WireError.Code, id: UInt64?)
        case skip
    }

    static func expectation(for line: [UInt8]) -> Expected {
        do {
            switch try WireCodec.decode(line, port: .api) {
            case .request(_, .subscribe), .error:
                return .skip
            case .request(_, .createReplica(let spec)) where (try? spec.validate()) != nil:
                return .skip
            case .request(let id, _):
                return .reply(id: id)
            case .hello, .authenticate, .welcome, .reply, .feed, .envelope:
                return .error(.unexpectedMessage, id: nil)
            }
        } catch {
            return .error(error.code, id: error.requestID)
        }
    }

    public static func run(node: String, secretFile: String, options: FuzzRunner.Options) async -> Int32 {
        guard let colon = node.lastIndex(of: ":"), let port = Int(node[node.index(after: colon)...]) else {
            FileHandle.standardError.write(Data("ketch-fuzz: --node takes HOST:PORT (like 127.0.2.9:17291), not '\(node)'\n".utf8))
            return 2
        }
        let host = String(node[..<colon])
        guard var secret = FileManager.default.contents(atPath: secretFile).map(Array.init) else {
            FileHandle.standardError.write(Data("ketch-fuzz: cannot read the secret file \(secretFile)\n".utf8))
            return 2
        }
        while let last = secret.last, [0x20, 0x09, 0x0A, 0x0D].contains(last) { secret.removeLast() }

        let target = WireTargets.request
        var counts: [String: Int] = [:]
        var failures: [String] = []
        var connections = 0
        let started = ContinuousClock.now
        var conn: Connection?
        var sentInputs = 0
        func fail(_ index: Int, _ text: String) {
            failures.append("input \(index): \(text)")
            FileHandle.standardError.write(Data("ketch-fuzz: node: input \(index) (seed \(options.seed)): \(text)\n".utf8))
        }
        for index in options.skip..<(options.skip + options.inputs) {
            if options.maxSeconds > 0, (ContinuousClock.now - started).seconds >= options.maxSeconds { break }
            var input = FuzzRunner.input(for: target, seed: options.seed, index: index)
            // The probe checks answers line by line; the framer has its own target.
            var framer = LineFramer()
            input.append(0x0A)
            let frames = framer.push(input)
            // One frame per input: the node answers errors at once but replies from a task, so
            // the answers to several lines may come in any order. Framing has its own target.
            guard frames.count == 1 else {
                counts["skipped", default: 0] += 1
                continue
            }
            if case .line(let l) = frames[0], case .skip = expectation(for: l) {
                counts["skipped", default: 0] += 1
                continue
            }
            do {
                if conn == nil {
                    conn = try Connection(host: host, port: port, secret: secret, timeoutSeconds: max(1, options.timeLimitMs / 1000))
                    connections += 1
                }
                let c = conn!
                try c.send(input)
                sentInputs += 1
                for frame in frames {
                    let expected: Expected
                    switch frame {
                    case .tooLong: expected = .error(.lineTooLong, id: nil)
                    case .line(let l): expected = expectation(for: l)
                    }
                    guard let answer = c.readLine() else {
                        fail(index, "no answer within \(options.timeLimitMs) ms (a hang, or the node closed the connection)")
                        conn = nil
                        break
                    }
                    guard let message = try? WireCodec.decode(answer, port: .api) else {
                        fail(index, "the answer is not a valid line: \(String(decoding: answer.prefix(200), as: UTF8.self))")
                        conn = nil
                        break
                    }
                    switch (expected, message) {
                    case let (.reply(id), .reply(got, _)) where got == id:
                        counts["reply", default: 0] += 1
                    case let (.reply(id), .error(e)) where e.code == .busy && e.requestID == id:
                        counts["busy", default: 0] += 1
                    case let (.error(code, id), .error(e)) where e.code == code && e.requestID == id:
                        counts[code.rawValue, default: 0] += 1
                        c.badLines += 1
                        if code == .lineTooLong || c.badLines >= 3 {
                            if code != .lineTooLong {
                                guard let last = c.readLine(), case .error(let closing)? = try? WireCodec.decode(last, port: .api),
                                      closing.code == .tooManyErrors else {
                                    fail(index, "the 3rd bad line was not followed by too-many-errors")
                                    conn = nil
                                    break
                                }
                            }
                            if !c.isClosedByPeer() { fail(index, "the node kept the connection open after \(code)") }
                            conn = nil
                        }
                    default:
                        fail(index, "expected \(expected), the node answered \(String(decoding: answer.prefix(300), as: UTF8.self))")
                        conn = nil
                    }
                    if conn == nil { break }
                }
            } catch {
                fail(index, "\(error)")
                conn = nil
            }
            if failures.count >= 20 { break }
        }
        conn = nil
        // The node must still be up and answering.
        var alive = false
        if let c = try? Connection(host: host, port: port, secret: secret, timeoutSeconds: 5),
           (try? c.send(WireCodec.encode(.request(id: 424242, .get(kind: .runtime, id: nil))))) != nil,
           let line = c.readLine(), case .reply(424242, .resources)? = try? WireCodec.decode(line, port: .api) {
            alive = true
        }
        if !alive { failures.append("the node does not answer get runtime after the run") }
        let seconds = (ContinuousClock.now - started).seconds
        let tally = counts.keys.sorted().map { "\($0)=\(counts[$0]!)" }.joined(separator: " ")
        print("fuzz target=node seed=\(options.seed) inputs=\(sentInputs) seconds=\(String(format: "%.1f", seconds)) connections=\(connections) node_alive=\(alive) failures=\(failures.count) \(tally)")
        return failures.isEmpty ? 0 : 1
    }
}
