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
        var frames: [Frame] = []
        var rest = bytes[...]
        while let newline = rest.firstIndex(of: 0x0A) {
            let piece = rest[rest.startIndex..<newline]
            rest = rest[rest.index(after: newline)...]
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
        if !discarding && !rest.isEmpty {
            if buffer.count + rest.count > maxLineBytes {
                buffer.removeAll()
                discarding = true
                frames.append(.tooLong(tooLongError))
            } else {
                buffer.append(contentsOf: rest)
            }
        }
        return frames
    }

    private var tooLongError: WireError {
        WireError(.lineTooLong, "a line is longer than \(maxLineBytes) bytes; every message must be one JSON object on one line of at most \(maxLineBytes) bytes")
    }
}
