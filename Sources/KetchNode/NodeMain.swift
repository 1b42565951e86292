import Foundation
import Dispatch
import KetchShared
import KetchStore
import KetchWire
import Logging

/// Start-up and shutdown of one `ketch-node`: checks everything that can be wrong before it
/// creates anything, then runs the node until SIGTERM or SIGINT, or until it cannot persist its
/// protocol state (then it shuts down the same way and exits with that error).
public enum NodeMain {
    public static func run(config: NodeConfig, logger: Logger) async throws {
        // Checked first, so a bad secret leaves no data dir or lock behind.
        let secret: ClusterSecret
        do { secret = try ClusterSecret(contentsOfFile: config.secretFile) } catch {
            throw NodeError("bad-secret", "\(error)")
        }
        try prepareDataDirectory(config.dataDirectory)
        let lock = try DataDirLock(dataDirectory: config.dataDirectory)
        let store: KetchStore
        do { store = try KetchStore.open(dataDirectory: config.dataDirectory) } catch {
            throw NodeError("store", "\(error)")
        }
        let node = try await Node.start(config: config, secret: secret, store: store, logger: logger)
        let signal = await waitForStop(node)
        logger.notice("stopping on \(signal)")
        await node.shutdown()
        withExtendedLifetime(lock) {}
        if let fatal = await node.fatalError { throw fatal }
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

    /// SIGTERM or SIGINT, or the node itself (see `Node.fatalError`), whichever comes first.
    private static func waitForStop(_ node: Node) async -> String {
        let latch = node.stopRequest
        var sources: [DispatchSourceSignal] = []
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { latch.fire(name) }
            source.resume()
            sources.append(source)
        }
        let reason = await latch.wait()
        withExtendedLifetime(sources) {}
        return reason
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
