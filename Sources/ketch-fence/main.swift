// ketch-fence: the independent lease watchdog for one Postgres primary.
//
// A paused or killed ketch-node cannot fence its own Postgres, yet a primary whose lease ran out
// must stop serving before anyone else can be granted that lease. This small process does only
// that: it polls a guard file written by the node and, when the file says "open until D" and the
// CLOCK_BOOTTIME clock has reached D, it SIGKILLs the postmaster and every child of it, and
// keeps at it (re-reading the pid file, and looking for `postgres` processes whose working
// directory is the data directory) until none is left; only then does it write "fenced <now>".
// A pid file that is missing or half written at D (a postmaster restarting) must not make it
// declare a running Postgres fenced. Nothing here waits on the node, the network or Postgres.
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

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// Replaces the guard with `text`; with `unlessChangedFrom`, only if the guard still reads so
/// just before the rename (a retry must not overwrite what the node wrote since).
func writeGuard(_ path: String, _ text: String, unlessChangedFrom seen: String? = nil) {
    let tmp = path + ".fence-tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    let length = strlen(text)
    let written = text.withCString { write(fd, $0, length) }
    let synced = fsync(fd) == 0
    close(fd)
    // Never replace the guard with a torn one (a full disk).
    guard written == length, synced else { unlink(tmp); return }
    if let seen, readSmallFile(path) != seen { unlink(tmp); return }
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

/// The working directory of `pid`, nil for a process that is gone (or a zombie: it has none).
/// A postmaster's working directory is its data directory: checking it guards against a PID
/// that was reused by an unrelated process after that postmaster died.
func cwd(of pid: Int32) -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/\(pid)/cwd", &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func executableName(of pid: Int32) -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/\(pid)/exe", &buf, buf.count - 1)
    guard n > 0 else { return nil }
    let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return path.split(separator: "/").last.map(String.init)
}

/// Every Postgres process of this data directory, found without the pid file: the pid file can
/// be missing or half written (a postmaster starting or restarting), yet a postmaster and each
/// of its children run with the data directory as working directory. Only `postgres`
/// executables count, so an operator's shell that happens to sit in the directory is left alone.
func postgresProcesses(in dataDirectory: String) -> [Int32] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var out: [Int32] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        guard let pid = Int32(name), pid > 1, pid != getpid() else { continue }
        if let exe = executableName(of: pid), exe.hasPrefix("postgres"), cwd(of: pid) == dataDirectory { out.append(pid) }
    }
    return out
}

/// One round of killing: the postmaster named by the pid file (if its working directory proves
/// it is one) and its children, plus every Postgres process of the data directory. Returns how
/// many processes were signalled; 0 means none of ours runs any more.
func killRound(postmasterPidFile: String, dataDirectory: String) -> Int {
    var victims: [Int32] = []
    if let text = readSmallFile(postmasterPidFile) {
        let lines = text.split(separator: "\n")
        if lines.count >= 2, let pid = Int32(lines[0].trimmingCharacters()), pid > 1,
           let dir = cwd(of: pid), dir == String(lines[1]) {
            victims.append(pid)
            victims += children(of: pid)
        }
    }
    for pid in postgresProcesses(in: dataDirectory) {
        victims.append(pid)
        victims += children(of: pid)
    }
    // A process counts when it was alive before the signal: a zombie has no working directory
    // (so rounds end once everything is dead), and one that dies at once is still counted as
    // killed (checking after the signal raced with its death and reported "nothing-running").
    var signalled = 0
    for pid in Set(victims) where cwd(of: pid) != nil && kill(pid, SIGKILL) == 0 { signalled += 1 }
    return signalled
}

/// The direct children of `pid` as the kernel lists them: one small file, no /proc walk.
func listedChildren(of pid: Int32) -> [Int32] {
    guard let text = readSmallFile("/proc/\(pid)/task/\(pid)/children") else { return [] }
    return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters()) }
}

/// The first blow, struck before anything slow: the postmaster named by the pid file and the
/// children the kernel lists for it (read before it dies and they are re-parented). Walking all
/// of /proc first — as every round does — took ~85 ms on a loaded machine in a debug build, and
/// a backend acknowledged commits in that time (reliability finding 12). A backend whose
/// postmaster is gone does not acknowledge a commit still waiting for its standby, but one
/// already past that wait would, so the children go in the same instant.
/// Returns how many processes were signalled.
func killPostmasterFirst(postmasterPidFile: String) -> Int {
    guard let text = readSmallFile(postmasterPidFile) else { return 0 }
    let lines = text.split(separator: "\n")
    guard lines.count >= 2, let pid = Int32(lines[0].trimmingCharacters()), pid > 1,
          let dir = cwd(of: pid), dir == String(lines[1]) else { return 0 }
    let kids = listedChildren(of: pid)
    var signalled = kill(pid, SIGKILL) == 0 ? 1 : 0
    for k in kids where kill(k, SIGKILL) == 0 { signalled += 1 }
    return signalled
}

/// Kills until no Postgres process of the data directory is left, re-reading the pid file every
/// round: the copy is declared fenced only once nothing of it runs. Returns whether anything was
/// killed (false: nothing was running at the deadline).
func fence(postmasterPidFile: String, dataDirectory: String) -> Bool {
    var killedAny = killPostmasterFirst(postmasterPidFile: postmasterPidFile) > 0
    while true {
        let n = killRound(postmasterPidFile: postmasterPidFile, dataDirectory: dataDirectory)
        if n == 0 { return killedAny }
        killedAny = true
        usleep(1_000)
    }
}

/// The data directory is the pid file's directory, resolved as the kernel shows a working directory.
func dataDirectory(ofPidFile path: String) -> String {
    let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    guard let resolved = realpath(dir.isEmpty ? "." : dir, nil) else { return dir }
    defer { free(resolved) }
    return String(cString: resolved)
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
// The watchdog must run at its deadline even when the machine is saturated (the fault suite saw
// kills ~100 ms late with four servers on two cores). Real-time FIFO scheduling, if allowed, makes
// it preempt Postgres the moment it wakes; it sleeps between polls, so it cannot starve others.
// Without the privilege it falls back to the highest nice priority it may take.
var fifo = sched_param(sched_priority: 10)
if sched_setscheduler(0, SCHED_FIFO, &fifo) != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, -20) }

/// TEST ONLY hook shared with the node (KETCH_SERVICE_JOURNAL=1): each fence is appended to the
/// node's service journal as `<real-boottime-ns> <replica> fenced <late-ns> <killed>`, so the fault
/// checker can see when Postgres was actually killed and how late the watchdog was.
/// `KETCH_SERVICE_JOURNAL=1` puts the journal beside the guard file; an absolute directory puts it
/// there (the fault suite keeps journals off a data dir it fills up).
let journalSetting = getenv("KETCH_SERVICE_JOURNAL").map { String(cString: $0) } ?? ""
let journalEnabled = journalSetting == "1" || journalSetting.hasPrefix("/")

func realBoottimeNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

func journalFence(late: Int64, killed: Bool) {
    guard journalEnabled else { return }
    let parts = guardFile.split(separator: "/", omittingEmptySubsequences: false)
    let dir = parts.dropLast().joined(separator: "/")
    var replica = String(parts.last ?? "")
    if replica.hasSuffix(".guard") { replica.removeLast(6) }
    let line = "\(realBoottimeNanoseconds()) \(replica) fenced \(late) \(killed ? "killed" : "nothing-running")\n"
    let journalDir = journalSetting.hasPrefix("/") ? journalSetting : (dir.isEmpty ? "." : dir)
    let fd = open(journalDir + "/service.journal", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    _ = line.withCString { write(fd, $0, strlen($0)) }
    close(fd)
}

/// Whoever reads the node's log should learn that the watchdog ran late: the lease margin
/// (50 ms) is what a late kill eats into.
func warnIfLate(_ late: Int64) {
    guard late > 10_000_000 else { return }
    let text = "ketch-fence: \(guardFile): Postgres killed \(late / 1_000_000) ms after the lease deadline (the margin is 50 ms; is the machine overloaded?)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

/// Whether the node that started this watchdog is gone. Its PID could be a zombie nobody reaps
/// (a harness that waits for this process to close an inherited pipe first), so the test is
/// whether this process was re-parented, not whether that PID still answers `kill(pid, 0)`.
func parentGone() -> Bool {
    guard let p = parent else { return false }
    return getppid() != p
}

/// Sleeps `ns` of the (possibly test-scaled) protocol clock.
func sleepProtocol(_ ns: Int64) {
    let real = testClockRate == 1.0 ? ns : Int64(Double(ns) / testClockRate)
    usleep(useconds_t(max(real, 50_000) / 1_000))
}

// The guard is read when it may have changed and at the deadline itself, not on a fixed fast
// poll: the node only ever moves an open deadline later or closes the guard, so re-reading it at
// the deadline is enough to see a renewal, and the watchdog wakes at the deadline rather than up
// to one poll period after it. A closed guard is polled every 20 ms (an open deadline is always
// a lease away, far more than that).
//
// A guard that is there but says nothing this watchdog understands (a node that could not write
// it whole on a full disk, which the node also guards against) is not a close: the last open
// deadline read stays in force. A deadline already fenced is not fenced again when the guard
// could not be rewritten to say so; the "fenced" line is written again until it is there (below).
var lastDeadline: Int64?
var fencedDeadline: Int64?
var fencedLine: String?
while true {
    let raw = readSmallFile(guardFile)
    let state = raw?.split(whereSeparator: { $0 == " " || $0 == "\n" }) ?? []
    let now = boottimeNanoseconds()
    var open: Int64?
    if state.first == "open", state.count >= 2, let d = Int64(state[1]) {
        open = d
    } else if state.first == "closed" || state.first == "fenced" || !fileExists(guardFile) {
        open = nil
    } else {
        open = lastDeadline
    }
    lastDeadline = open
    if let deadline = open, deadline != fencedDeadline {
        if now >= deadline {
            fencedDeadline = deadline
            let killed = fence(postmasterPidFile: pidFile, dataDirectory: dataDirectory(ofPidFile: pidFile))
            let late = now - deadline
            fencedLine = "fenced \(now)\(killed ? "" : " nothing-running")\n"
            writeGuard(guardFile, fencedLine!)
            journalFence(late: late, killed: killed)
            if killed { warnIfLate(late) }
        } else {
            // Capped so a deadline far away (or a clock step) is looked at again soon.
            sleepProtocol(min(deadline - now, 200_000_000))
        }
        continue
    }
    // The guard still holds the deadline fenced above: the "fenced" line could not be written
    // (a full disk). The node waits for that line before it arms the guard again, so it is
    // written again until it is there; without this every later open on this server failed,
    // for good (diskfull seed 9208: 100 s without a primary, two servers giving way by turns).
    if let deadline = open, deadline == fencedDeadline, let line = fencedLine, let raw {
        writeGuard(guardFile, line, unlessChangedFrom: raw)
    }
    if parentGone() { exit(0) }
    sleepProtocol(20_000_000)
}
