import Foundation
import Dispatch
import KetchShared
import KetchStore
import KetchWire
import Logging

/// Start-up and shutdown of one `ketch-node`: checks everything that can be wrong before it
/// creates anything, then runs the node until SIGTERM or SIGINT.
///
/// A node that cannot persist its protocol state (a full disk) shuts down as on SIGTERM — copies
/// closed and stopped, so nothing it says rests on state a restart would forget — and then, in
/// the same process, waits until its store takes writes again and starts afresh from what is on
/// disk, exactly as a restart after a crash would (finding 15: nodes that exited on a full disk
/// needed an operator, and three of four were gone after three disk-full faults). The PID, the
/// data-dir lock and the signal handlers are kept across the restart.
public enum NodeMain {
    /// How often a node that could not persist tries its store again.
    static let spaceProbePeriodNanoseconds: UInt64 = 1_000_000_000
    /// The probe writes this much and deletes it: SQLite keeps the freed pages, so the restarted
    /// node has that much room for its first records even if something else fills the disk again.
    static let spaceProbeBytes = 256 * 1024

    public static func run(config: NodeConfig, logger: Logger) async throws {
        // Checked first, so a bad secret leaves no data dir or lock behind.
        let secret: ClusterSecret
        do { secret = try ClusterSecret(contentsOfFile: config.secretFile) } catch {
            throw NodeError("bad-secret", "\(error)")
        }
        try prepareDataDirectory(config.dataDirectory)
        let lock = try DataDirLock(dataDirectory: config.dataDirectory)
        defer { withExtendedLifetime(lock) {} }
        let signals = SignalWatch()
        defer { signals.cancel() }
        var store: KetchStore
        do { store = try KetchStore.open(dataDirectory: config.dataDirectory) } catch {
            throw NodeError("store", "\(error)")
        }
        while true {
            let node = try await Node.start(config: config, secret: secret, store: store, logger: logger)
            signals.forward(to: node.stopRequest)
            let reason = await node.stopRequest.wait()
            logger.notice("stopping on \(reason)")
            await node.shutdown()
            store.close()
            guard let fatal = await node.fatalError else { return }
            // SIGTERM while waiting is an ordinary stop: the copies are already closed and stopped.
            guard let reopened = await waitForWritableStore(config: config, signals: signals, fatal: fatal, logger: logger) else {
                return
            }
            store = reopened
            logger.notice("the store takes writes again; starting afresh from what is on disk")
        }
    }

    /// Opens the store and writes (then deletes) a probe record once a second until that works;
    /// nil if SIGTERM or SIGINT came first.
    private static func waitForWritableStore(config: NodeConfig, signals: SignalWatch, fatal: NodeError, logger: Logger) async -> KetchStore? {
        logger.critical("\(fatal.message)")
        var attempts = 0
        while signals.received == nil {
            if let store = try? KetchStore.open(dataDirectory: config.dataDirectory) {
                do {
                    try store.put(kind: "space-probe", key: "probe", value: Data(count: spaceProbeBytes))
                    try store.delete(kind: "space-probe", key: "probe")
                    return store
                } catch {
                    store.close()
                }
            }
            attempts += 1
            if attempts % 60 == 0 {
                logger.warning("still waiting for free space for \(config.dataDirectory)/ketch.db (\(attempts) s)")
            }
            try? await Task.sleep(nanoseconds: spaceProbePeriodNanoseconds)
        }
        return nil
    }

    static func prepareDataDirectory(_ path: String) throws(NodeError) {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw NodeError("data-dir-not-dir", "data dir \(path) exists but is not a directory") }
            guard FileManager.default.isWritableFile(atPath: path), FileManager.default.isReadableFile(atPath: path) else {
                throw NodeError("data-dir-unwritable", "data dir \(path) is not readable and writable by this user; fix its permissions or choose another --data-dir")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw NodeError("data-dir-unwritable", "cannot create data dir \(path): \(error.localizedDescription)")
        }
    }

}

/// SIGTERM and SIGINT, watched once for the whole process and passed on to whichever node runs
/// (a node restarted after a persist failure gets a new `StopLatch`).
final class SignalWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: String?
    private var latch: StopLatch?
    private var sources: [DispatchSourceSignal] = []

    init() {
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.fire(name) }
            source.resume()
            sources.append(source)
        }
    }

    /// The first signal received, if any.
    var received: String? { lock.withLock { signal } }

    /// Passes signals to `latch` from now on, and at once if one already came.
    func forward(to latch: StopLatch) {
        let already: String? = lock.withLock { self.latch = latch; return signal }
        if let already { latch.fire(already) }
    }

    func cancel() { for s in sources { s.cancel() } }

    private func fire(_ name: String) {
        let target: StopLatch? = lock.withLock {
            if signal == nil { signal = name }
            return latch
        }
        target?.fire(name)
    }
}

/// A one-shot stop request: the first `fire` wins, and `wait` returns it whether it came before
/// or after the wait began.
final class StopLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: String?
    private var continuation: CheckedContinuation<String, Never>?

    func fire(_ why: String) {
        let c: CheckedContinuation<String, Never>? = lock.withLock {
            guard reason == nil else { return nil }
            reason = why
            defer { continuation = nil }
            return continuation
        }
        c?.resume(returning: why)
    }

    func wait() async -> String {
        await withCheckedContinuation { (c: CheckedContinuation<String, Never>) in
            let ready: String? = lock.withLock {
                if let reason { return reason }
                continuation = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}
