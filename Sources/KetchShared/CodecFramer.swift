import Foundation

/// Splits a byte stream into NDJSON lines with a hard per-line limit.
///
/// Why a struct with no I/O: the same framer runs inside the NIO handler and in tests that feed
/// it one byte at a time, so the tricky part (a limit that holds across chunk boundaries, and
/// resynchronising after an oversized line) is tested without sockets.
///
/// Rules:
/// - a line ends at `\n`; one trailing `\r` is dropped, so `nc`/telnet users work;
/// - empty lines are skipped (a human pressing return is not an error);
/// - a line longer than `maxLineBytes` (excluding the newline) yields one `.tooLong` error, and
///   bytes are discarded until the next newline — the framer never holds more than
///   `maxLineBytes` bytes, whatever it is fed.
public struct LineFramer: Sendable {
    public static let defaultMaxLineBytes = 1 << 20

    public enum Frame: Hashable, Sendable {
        case line([UInt8])
        case tooLong(WireError)
    }

    public let maxLineBytes: Int
    private var buffer: [UInt8] = []
    /// True after an oversized line was reported and its remainder is being skipped.
    private var discarding = false

    public init(maxLineBytes: Int = LineFramer.defaultMaxLineBytes) {
        precondition(maxLineBytes > 0, "maxLineBytes must be positive")
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes held waiting for a newline; never more than `maxLineBytes`.
    public var bufferedByteCount: Int { buffer.count }

    /// Feeds bytes and returns every frame they complete, in order.
    public mutating func push<C: Collection>(_ bytes: C) -> [Frame] where C.Element == UInt8 {
        if let frames = bytes.withContiguousStorageIfAvailable({ push(UnsafeRawBufferPointer($0)) }) {
            return frames
        }
        return Array(bytes).withUnsafeBytes { push($0) }
    }

    /// The fast path: the NIO handler hands over its buffer's bytes without copying, and
    /// `memchr` finds newlines (this runs on every byte a node receives, debug builds included).
    public mutating func push(_ bytes: UnsafeRawBufferPointer) -> [Frame] {
        var frames: [Frame] = []
        guard let base = bytes.baseAddress else { return frames }
        var offset = 0
        let end = bytes.count
        while offset < end, let hit = memchr(base + offset, 0x0A, end - offset) {
            let newline = base.distance(to: UnsafeRawPointer(hit))
            let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<newline])
            offset = newline + 1
            if discarding {
                discarding = false
                continue
            }
            if buffer.count + piece.count > maxLineBytes {
                buffer.removeAll()
                frames.append(.tooLong(tooLongError))
                continue
            }
            buffer.append(contentsOf: piece)
            var line = buffer
            buffer.removeAll(keepingCapacity: true)
            if line.last == 0x0D { line.removeLast() }
            if !line.isEmpty { frames.append(.line(line)) }
        }
        let rest = end - offset
        if !discarding && rest > 0 {
            if buffer.count + rest > maxLineBytes {
                buffer.removeAll()
                discarding = true
                frames.append(.tooLong(tooLongError))
            } else {
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            }
        }
        return frames
    }

    private var tooLongError: WireError {
        WireError(.lineTooLong, "a line is longer than \(maxLineBytes) bytes; every message must be one JSON object on one line of at most \(maxLineBytes) bytes")
    }
}
