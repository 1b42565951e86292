import Foundation
import KetchShared
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs a target over `count` generated inputs and reports how they fared.
///
/// Input `k` of seed `s` is made from `SplitMix64(seed: mix(s, k))` alone, so any input is
/// replayed with `--seed s --skip k --inputs 1` without running the ones before it.
///
/// A crash (a trap, an overflow, a stack overflow) cannot be caught in Swift; a signal handler
/// writes the input being run to `<crashDirectory>/<target>-crash.bin`, says so on stderr, and
/// lets the process die. A hang is caught by a watchdog thread: an input running longer than
/// `timeLimitMs` is written to `<target>-hang.bin` and the process exits with status 3.
public struct FuzzRunner {
    public struct Options: Sendable {
        public var inputs: Int = 10_000
        public var seed: UInt64 = 1
        /// First input index (to replay one input of a run).
        public var skip: Int = 0
        public var timeLimitMs: Int = 5_000
        public var crashDirectory: String = "."
        /// Stop after this many seconds even if fewer inputs ran (0: no limit).
        public var maxSeconds: Double = 0
        /// Time every input and report the time by input size (`--profile`), to see which
        /// inputs the run's time goes to.
        public var profile: Bool = false
        public init() {}
    }

    public struct Report: Sendable {
        public var target: String
        public var inputs: Int
        public var seconds: Double
        public var findings: [(index: Int, finding: FuzzFinding)]
        public var tally: FuzzTally
        public var seed: UInt64
        /// Inputs and seconds by size class, when profiled.
        public var profile: SizeProfile?
        /// One line `name=value ...`, the form bench scripts print.
        public var summary: String {
            let rate = seconds > 0 ? Int(Double(inputs) / seconds) : 0
            return "fuzz target=\(target) seed=\(seed) inputs=\(inputs) seconds=\(String(format: "%.1f", seconds)) inputs_per_s=\(rate) crashes=0 hangs=0 findings=\(findings.count) \(tally.summary)"
                + (profile.map { " " + $0.summary } ?? "")
        }
    }

    /// The seed of input `index` of a run seeded with `seed`.
    public static func inputSeed(_ seed: UInt64, _ index: Int) -> UInt64 {
        var g = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        return g.next()
    }

    /// The input with index `index` for `target`.
    public static func input(for target: FuzzTarget, seed: UInt64, index: Int) -> [UInt8] {
        if let generate = target.generate { return generate(inputSeed(seed, index)) }
        var m = Mutator(seed: inputSeed(seed, index), allowHuge: false, allowLarge: false)
        // One input in 64 is pure noise (no corpus at all); the rest mutate valid lines.
        if m.rng.next(below: 64) == 0 {
            let n = m.rng.next(below: 512)
            return [UInt8](unsafeUninitializedCapacity: n) { buf, count in
                for i in 0..<n { buf[i] = UInt8(truncatingIfNeeded: m.rng.next()) }
                count = n
            }
        }
        // Size tiers, fixed fractions of every run: a huge or very deep input costs the decoders
        // about a thousand times a small one and once made up most of a run's time. 1 input in
        // 4,096 is huge (one of its lines gets a mutation over 1 MiB or 50,000+ deep: about
        // 2,400 in a run of 10 million); 1 in 256 may hold 64 KiB strings and 5,000-deep
        // nesting; the rest stay small (strings up to 4 KiB, nesting up to 1,000, which is
        // still past every decoder's limit of 64).
        let tier = m.rng.next(below: 4096)
        let huge = tier == 0 && target.allowHuge
        m.allowLarge = tier < 16
        let count = 1 + m.rng.next(below: target.linesPerInput)
        let hugeLine = huge ? m.rng.next(below: count) : -1
        var out: [UInt8] = []
        for i in 0..<count {
            if i > 0 { out.append(0x0A) }
            // Later lines are sometimes left valid, so state built by earlier ones is exercised.
            var line = i > 0 && m.rng.next(below: 3) == 0 ? target.seeds[m.rng.next(below: target.seeds.count)] : m.mutate(target.seeds)
            if i == hugeLine { line = m.hugeMutation(line) }
            out += line
        }
        return out
    }

    public static func run(_ target: FuzzTarget, options: Options, progress: ((Int, Double) -> Void)? = nil) -> Report {
        CrashGuard.install(target: target.name, seed: options.seed, directory: options.crashDirectory)
        let watchdog = Watchdog(target: target.name, seed: options.seed, limitMs: options.timeLimitMs, directory: options.crashDirectory)
        watchdog.start()
        defer { watchdog.stop() }

        let check = target.makeCheck()
        var tally = FuzzTally()
        var findings: [(Int, FuzzFinding)] = []
        let started = ContinuousClock.now
        var lastProgress = started
        var ran = 0
        var profile = SizeProfile()
        for index in options.skip..<(options.skip + options.inputs) {
            let g0 = options.profile ? Watchdog.nowNs() : 0
            let input = input(for: target, seed: options.seed, index: index)
            CrashGuard.current(input, index: index)
            watchdog.begin(index)
            let t0 = options.profile ? Watchdog.nowNs() : 0
            let finding = check(input, &tally)
            if options.profile { profile.add(bytes: input.count, ns: Watchdog.nowNs() &- t0, generateNs: t0 &- g0) }
            watchdog.end()
            ran += 1
            if let finding {
                if findings.count < 20 {
                    let path = "\(options.crashDirectory)/\(target.name)-finding-\(index).bin"
                    FileManager.default.createFile(atPath: path, contents: Data(input))
                    FileHandle.standardError.write(Data("ketch-fuzz: \(target.name) input \(index) (seed \(options.seed)): \(finding); input written to \(path)\n".utf8))
                }
                findings.append((index, finding))
            }
            if ran & 0xFF == 0 {
                let now = ContinuousClock.now
                let elapsed = (now - started).seconds
                if options.maxSeconds > 0, elapsed >= options.maxSeconds { break }
                if let progress, (now - lastProgress).seconds >= 10 {
                    progress(ran, elapsed)
                    lastProgress = now
                }
            }
        }
        CrashGuard.clear()
        return Report(target: target.name, inputs: ran, seconds: (ContinuousClock.now - started).seconds,
                      findings: findings, tally: tally, seed: options.seed, profile: options.profile ? profile : nil)
    }
}

/// Where a run's time goes, by input size: generating an input and checking it, per class.
public struct SizeProfile: Sendable {
    /// Upper bounds (inclusive) of the size classes; the last class is everything above.
    public static let bounds = [4096, 65_536, 1 << 20]
    public static let names = ["le4k", "le64k", "le1m", "gt1m"]
    public var inputs = [0, 0, 0, 0]
    public var checkNs: [UInt64] = [0, 0, 0, 0]
    public var generateNs: [UInt64] = [0, 0, 0, 0]

    mutating func add(bytes: Int, ns: UInt64, generateNs g: UInt64) {
        let c = Self.bounds.firstIndex { bytes <= $0 } ?? Self.bounds.count
        inputs[c] += 1
        checkNs[c] &+= ns
        generateNs[c] &+= g
    }

    /// `le4k=N/check_s/gen_s ...`: inputs, seconds checking them, seconds generating them.
    public var summary: String {
        (0..<Self.names.count).map {
            "\(Self.names[$0])=\(inputs[$0])/\(String(format: "%.2f", Double(checkNs[$0]) / 1e9))/\(String(format: "%.2f", Double(generateNs[$0]) / 1e9))"
        }.joined(separator: " ")
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

/// Writes the input being run to a file when the process takes a fatal signal.
///
/// Everything the handler touches is prepared beforehand (paths as C strings, the input in a
/// malloc'd buffer) because a signal handler may only call async-signal-safe functions.
public enum CrashGuard {
    nonisolated(unsafe) static var buffer: UnsafeMutablePointer<UInt8>?
    nonisolated(unsafe) static var capacity = 0
    nonisolated(unsafe) static var length = -1
    nonisolated(unsafe) static var index = 0
    nonisolated(unsafe) static var path: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var banner: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var bannerLength = 0
    nonisolated(unsafe) static var altStack: UnsafeMutableRawPointer?
    nonisolated(unsafe) static var installed = false
    /// The thread running inputs, and what to say when another thread crashes meanwhile (CI
    /// once blamed a fuzz target for a crash elsewhere in the test process).
    nonisolated(unsafe) static var fuzzThread: pthread_t?
    nonisolated(unsafe) static var elsewhere: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var elsewhereLength = 0

    static func install(target: String, seed: UInt64, directory: String) {
        path.map { free($0) }
        banner.map { free($0) }
        path = strdup("\(directory)/\(target)-crash.bin")
        let text = "\nketch-fuzz: target \(target) crashed (seed \(seed)); the input is in \(directory)/\(target)-crash.bin; replay: ketch-fuzz --target \(target) --seed \(seed) --inputs 1 --skip "
        banner = strdup(text)
        bannerLength = text.utf8.count
        elsewhere.map { free($0) }
        let other = "\nketch-fuzz: a thread other than the fuzzer's took a fatal signal while target \(target) ran; this is not a finding of the fuzz input, look at that thread's backtrace\n"
        elsewhere = strdup(other)
        elsewhereLength = other.utf8.count
        guard !installed else { return }
        installed = true
        // An alternate stack, so a stack overflow can still run the handler.
        let size = 256 * 1024
        altStack = malloc(size)
        var ss = stack_t()
        ss.ss_sp = altStack
        ss.ss_size = size
        ss.ss_flags = 0
        sigaltstack(&ss, nil)
        for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = crashHandler
            action.sa_flags = Int32(SA_ONSTACK) | Int32(bitPattern: UInt32(SA_RESETHAND))
            sigemptyset(&action.sa_mask)
            sigaction(sig, &action, nil)
        }
    }

    /// Keeps a copy of the input about to run (the handler cannot touch Swift arrays).
    static func current(_ input: [UInt8], index i: Int) {
        fuzzThread = pthread_self()
        if input.count > capacity {
            buffer.map { free($0) }
            capacity = max(input.count, 4096)
            buffer = malloc(capacity)?.assumingMemoryBound(to: UInt8.self)
        }
        input.withUnsafeBufferPointer { src in
            if let base = src.baseAddress, let buffer { memcpy(buffer, base, src.count) }
        }
        length = input.count
        index = i
    }

    static func clear() { length = -1 }

    /// Writes the current input; used by the crash handler and the watchdog.
    static func writeCurrent(to path: UnsafePointer<CChar>) {
        guard length >= 0, let buffer else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return }
        var written = 0
        while written < length {
            let n = write(fd, buffer + written, length - written)
            if n <= 0 { break }
            written += n
        }
        close(fd)
    }

    /// Decimal digits of `value` written to stderr without allocating.
    static func writeNumber(_ value: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { raw in
            var v = max(0, value)
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0 && i > 0
            _ = write(2, raw.baseAddress! + i, raw.count - i)
        }
        _ = write(2, "\n", 1)
    }
}

private func crashHandler(_ signal: Int32) {
    // Outside a run (length -1) the crash is not the fuzzer's input: say nothing misleading.
    if CrashGuard.length >= 0, let fuzzer = CrashGuard.fuzzThread, pthread_equal(pthread_self(), fuzzer) == 0 {
        if let elsewhere = CrashGuard.elsewhere { _ = write(2, elsewhere, CrashGuard.elsewhereLength) }
    } else if CrashGuard.length >= 0 {
        if let path = CrashGuard.path { CrashGuard.writeCurrent(to: path) }
        if let banner = CrashGuard.banner { _ = write(2, banner, CrashGuard.bannerLength) }
        CrashGuard.writeNumber(CrashGuard.index)
    }
    // SA_RESETHAND restored the default action: returning re-runs the faulting instruction
    // (or, for abort, the raise below ends the process) with the usual core/exit status.
    if signal == SIGABRT || signal == SIGTRAP { raise(signal) }
}

/// Ends the process when one input runs too long, after writing that input to a file.
final class Watchdog: @unchecked Sendable {
    private let running = Atomic<Int>(-1)
    private let startedNs = Atomic<UInt64>(0)
    private let stopped = Atomic<Bool>(false)
    private let limitNs: UInt64
    private let target: String
    private let seed: UInt64
    private let path: String
    private var thread: Thread?

    init(target: String, seed: UInt64, limitMs: Int, directory: String) {
        self.target = target; self.seed = seed
        limitNs = UInt64(max(1, limitMs)) * 1_000_000
        path = "\(directory)/\(target)-hang.bin"
    }

    static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    func begin(_ index: Int) {
        startedNs.store(Self.nowNs(), ordering: .relaxed)
        running.store(index, ordering: .releasing)
    }

    func end() { running.store(-1, ordering: .releasing) }

    func start() {
        let t = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                usleep(50_000)
                let index = running.load(ordering: .acquiring)
                guard index >= 0 else { continue }
                let elapsed = Self.nowNs() &- startedNs.load(ordering: .relaxed)
                // The index is read again: the input may have finished meanwhile.
                if elapsed > limitNs, running.load(ordering: .acquiring) == index {
                    path.withCString { CrashGuard.writeCurrent(to: $0) }
                    let ms = elapsed / 1_000_000
                    FileHandle.standardError.write(Data("ketch-fuzz: target \(target) input \(index) (seed \(seed)) ran \(ms) ms, over the \(limitNs / 1_000_000) ms limit: a hang; the input is in \(path); replay: ketch-fuzz --target \(target) --seed \(seed) --inputs 1 --skip \(index)\n".utf8))
                    exit(3)
                }
            }
        }
        t.stackSize = 1 << 20
        thread = t
        t.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
}
