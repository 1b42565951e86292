#if canImport(Glibc)
import Glibc
#endif

/// The host's CLOCK_BOOTTIME: shared by every network namespace and by the nodes' journals.
func boottimeNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
