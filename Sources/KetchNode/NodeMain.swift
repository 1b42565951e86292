import Foundation
import Dispatch
import KetchShared
import KetchStore
import KetchWire
import Logging

/// Start-up and shutdown of one `ketch-node`: checks everything that can be wrong before it
/// creates anything, then runs the node until SIGTERM or SIGINT.
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
        let signal = await waitForStopSignal()
        logger.notice("stopping on \(signal)")
        await node.shutdown()
        withExtendedLifetime(lock) {}
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

    private static func waitForStopSignal() async -> String {
        await withCheckedContinuation { (c: CheckedContinuation<String, Never>) in
            let box = SignalBox(continuation: c)
            for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
                Foundation.signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { box.fire(name) }
                source.resume()
                box.keep(source)
            }
        }
    }
}

/// Resumes the stop continuation once, whichever signal comes first.
private final class SignalBox: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<String, Never>?
    private var sources: [DispatchSourceSignal] = []
    init(continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }
    func keep(_ s: DispatchSourceSignal) { lock.withLock { sources.append(s) } }
    func fire(_ name: String) {
        let c = lock.withLock { () -> CheckedContinuation<String, Never>? in defer { continuation = nil }; return continuation }
        c?.resume(returning: name)
    }
}
