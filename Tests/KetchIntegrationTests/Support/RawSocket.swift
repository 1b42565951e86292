import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP client, for sending a node bytes no well-behaved client would.
final class RawSocket {
    let fd: Int32

    init(host: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        // No close here: deinit runs even when init throws, and closes fd.
        guard rc == 0 else { throw TestFailure("connect to \(host):\(port) failed: errno \(errno)") }
    }

    /// Sends bytes; returns false once the peer has closed.
    @discardableResult
    func send(_ data: [UInt8]) -> Bool {
        var offset = 0
        while offset < data.count {
            let n = data[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Reads whatever arrives until a newline, close or timeout.
    func readLine() -> String? {
        var out: [UInt8] = []
        var byte: UInt8 = 0
        while out.count < 1 << 20 {
            let n = recv(fd, &byte, 1, 0)
            if n <= 0 { break }
            if byte == 0x0A { return String(decoding: out, as: UTF8.self) }
            out.append(byte)
        }
        return out.isEmpty ? nil : String(decoding: out, as: UTF8.self)
    }

    deinit { close(fd) }
}
