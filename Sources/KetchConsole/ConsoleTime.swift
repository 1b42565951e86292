import KetchShared

/// The console's notion of "now", handed to `update` so that it never reads a clock itself:
/// a monotonic instant for ages and timeouts, and wall-clock milliseconds only for display.
public struct ConsoleTime: Hashable, Sendable {
    public var monotonic: Instant
    public var wallUnixMs: Int64
    public init(monotonic: Instant, wallUnixMs: Int64) { self.monotonic = monotonic; self.wallUnixMs = wallUnixMs }
    public static let zero = ConsoleTime(monotonic: .zero, wallUnixMs: 0)
    public func adding(ms: Int64) -> ConsoleTime {
        ConsoleTime(monotonic: monotonic + .milliseconds(ms), wallUnixMs: wallUnixMs + ms)
    }
}
