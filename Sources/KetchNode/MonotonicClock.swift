import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KetchShared

/// The node's one clock for the protocol: `CLOCK_BOOTTIME`, which keeps counting while the
/// process is stopped or the machine suspends, so a paused node wakes up knowing its lease ran out.
public enum MonotonicClock {
    public static func now() -> Instant {
        Instant(nanoseconds: NodeHooks.scaled(NodeHooks.realBoottimeNanoseconds()))
    }

    /// Wall-clock milliseconds, only for humans (event times on the feed).
    public static func unixMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// The kernel's boot id: `CLOCK_BOOTTIME` readings are comparable only within one boot.
    public static func bootID() -> String {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown-boot"
    }
}
