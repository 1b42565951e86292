// ketch-fence: the independent lease watchdog for one Postgres primary.
//
// A paused or killed ketch-node cannot fence its own Postgres, yet a primary whose lease ran out
// must stop serving before anyone else can be granted that lease. This small process does only
// that: it polls a guard file written by the node and, when the file says "open until D" and the
// CLOCK_BOOTTIME clock has reached D, it SIGKILLs the postmaster and every child of it, then
// writes "fenced <now>". Nothing here waits on the node, the network or Postgres.
//
// Guard file (one line, replaced atomically by the node):
//   open <deadline-ns>   Postgres may serve clients until this CLOCK_BOOTTIME instant
//   closed               nothing to guard (the node closed Postgres itself)
//   fenced <ns>          written by this watchdog after it killed Postgres
//
// Usage: ketch-fence GUARD-FILE POSTMASTER-PID-FILE [PARENT-PID]
// Exits once the parent (the node) is gone and there is nothing left to guard.
#if canImport(Glibc)
import Glibc
#endif

func boottimeNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    let real = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    return testClockRate == 1.0 ? real : testClockAnchor + Int64(Double(real - testClockAnchor) * testClockRate)
}

/// TEST ONLY (KETCH_TEST_CLOCK_RATE and _ANCHOR, inherited from the node): the same scaled clock as the node's.
let testClockRate: Double = getenv("KETCH_TEST_CLOCK_RATE").flatMap { Double(String(cString: $0)) }.flatMap { $0 > 0 ? $0 : nil } ?? 1.0
let testClockAnchor: Int64 = getenv("KETCH_TEST_CLOCK_ANCHOR").flatMap { Int64(String(cString: $0)) } ?? 0

func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 256)
    let n = read(fd, &buf, buf.count)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n], as: UTF8.self)
}

func writeGuard(_ path: String, _ text: String) {
    let tmp = path + ".fence-tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    _ = text.withCString { write(fd, $0, strlen($0)) }
    fsync(fd)
    close(fd)
    rename(tmp, path)
}

/// Children of `pid`, found through /proc before the parent dies and they are re-parented.
func children(of pid: Int32) -> [Int32] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var out: [Int32] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        guard let child = Int32(name), let stat = readSmallFile("/proc/\(name)/stat"),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, Int32(fields[1]) == pid { out.append(child) }
    }
    return out
}

/// The postmaster's working directory is its data directory: checking it guards against a PID
/// that was reused by an unrelated process after that postmaster died.
func isPostmaster(_ pid: Int32, of dataDirectory: String) -> Bool {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/\(pid)/cwd", &buf, buf.count - 1)
    guard n > 0 else { return false }
    let cwd = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return cwd == dataDirectory
}

func fence(postmasterPidFile: String) -> Bool {
    guard let text = readSmallFile(postmasterPidFile) else { return false }
    let lines = text.split(separator: "\n")
    guard lines.count >= 2, let pid = Int32(lines[0].trimmingCharacters()), pid > 1, kill(pid, 0) == 0,
          isPostmaster(pid, of: String(lines[1])) else { return false }
    let kids = children(of: pid)
    kill(pid, SIGKILL)
    for k in kids { kill(k, SIGKILL) }
    return true
}

extension Substring {
    func trimmingCharacters() -> String { String(self.filter { !$0.isWhitespace }) }
}

let args = CommandLine.arguments
guard args.count == 3 || args.count == 4 else {
    let usage = "ketch-fence: usage: ketch-fence GUARD-FILE POSTMASTER-PID-FILE [PARENT-PID]\n"
    _ = usage.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
let guardFile = args[1], pidFile = args[2]
let parent: Int32? = args.count == 4 ? Int32(args[3]) : nil
signal(SIGHUP, SIG_IGN)
signal(SIGINT, SIG_IGN)

while true {
    let state = readSmallFile(guardFile)?.split(whereSeparator: { $0 == " " || $0 == "\n" }) ?? []
    let now = boottimeNanoseconds()
    var guarding = false
    if state.first == "open", state.count >= 2, let deadline = Int64(state[1]) {
        guarding = true
        if now >= deadline {
            let killed = fence(postmasterPidFile: pidFile)
            writeGuard(guardFile, "fenced \(now)\(killed ? "" : " nothing-running")\n")
            guarding = false
        }
    }
    if !guarding, let p = parent, kill(p, 0) != 0 { exit(0) }
    usleep(5_000)
}
