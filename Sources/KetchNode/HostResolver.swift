import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Resolves server names (`server1`, `127.0.2.1`) to IPv4 addresses through the system resolver,
/// so `/etc/hosts` entries work as in the seed.
public enum HostResolver {
    public static func ipv4(of name: String) throws(NodeError) -> String {
        if isIPv4(name) { return name }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &result)
        defer { if result != nil { freeaddrinfo(result) } }
        guard rc == 0, let info = result, let sa = info.pointee.ai_addr else {
            throw NodeError("unknown-host", "cannot resolve server name '\(name)': add it to /etc/hosts (e.g. '127.0.2.1 \(name)') or use an IPv4 address")
        }
        return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> String in
            var addr = sin.pointee.sin_addr
            var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &addr, &buf, socklen_t(INET_ADDRSTRLEN))
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public static func isIPv4(_ s: String) -> Bool {
        var addr = in_addr()
        return inet_pton(AF_INET, s, &addr) == 1
    }

    /// Splits `host` or `host:port`, with `defaultPort` for the former.
    public static func hostAndPort(_ s: String, defaultPort: Int) throws(NodeError) -> (String, Int) {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let host = parts.first, !host.isEmpty else {
            throw NodeError("bad-member", "member '\(s)' is not 'name' or 'name:port'")
        }
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port) else {
                throw NodeError("bad-member", "member '\(s)' has a bad port; ports are 1-65535")
            }
            return (String(host), port)
        }
        return (String(host), defaultPort)
    }
}
