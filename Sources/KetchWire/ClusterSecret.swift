import Crypto
import Foundation
import KetchShared

/// The one secret shared by every node and client of a cluster, read from a file.
///
/// Why a file: a secret on a command line shows up in `ps`, one in the environment is inherited
/// by every child. The value is only ever used as an HMAC key; `description` is redacted so
/// that interpolating a `ClusterSecret` into a log line cannot leak it.
public struct ClusterSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Where nodes and clients look when no flag or `KETCH_SECRET_FILE` names the file.
    public static let defaultPath = "/etc/ketch/cluster.secret"

    /// Shorter secrets are refused: 16 bytes of random text is the least that resists guessing.
    public static let minimumBytes = 16

    /// Kept as bytes because `SymmetricKey` is not `Sendable`; a key is made per use.
    private let bytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: bytes) }

    /// Reads the secret from `path`, dropping trailing whitespace (an editor's final newline).
    /// Throws `WireError` with code `bad-secret` naming the path, never the content.
    public init(contentsOfFile path: String) throws(WireError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason: String
            if !FileManager.default.fileExists(atPath: path) {
                reason = "it does not exist"
            } else if !FileManager.default.isReadableFile(atPath: path) {
                reason = "it is not readable by this user"
            } else {
                reason = "it could not be read"
            }
            throw WireError(.badSecret, "cannot read the cluster secret file \(path): \(reason); pass a readable file with --secret-file or KETCH_SECRET_FILE")
        }
        try self.init(bytes: Array(data), source: "the cluster secret file \(path)")
    }

    /// A secret from bytes already in memory (tests, generated secrets).
    public init(bytes: [UInt8]) throws(WireError) {
        try self.init(bytes: bytes, source: "the cluster secret")
    }

    private init(bytes: [UInt8], source: String) throws(WireError) {
        var trimmed = bytes[...]
        while let last = trimmed.last, [0x20, 0x09, 0x0A, 0x0D].contains(last) { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty {
            throw WireError(.badSecret, "\(source) is empty; put at least \(Self.minimumBytes) random characters in it (for example: openssl rand -hex 32 > FILE)")
        }
        if trimmed.count < Self.minimumBytes {
            throw WireError(.badSecret, "\(source) holds only \(trimmed.count) bytes; at least \(Self.minimumBytes) are required (for example: openssl rand -hex 32 > FILE)")
        }
        self.bytes = Array(trimmed)
    }

    /// 32 random bytes as 64 hex characters: a fresh secret file's content.
    public static func generateText() -> String {
        var rng = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    }

    public var description: String { "ClusterSecret(redacted)" }
    public var debugDescription: String { description }
}

/// Lowercase hex, used for nonces and MACs on the wire.
enum Hex {
    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ s: String) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
