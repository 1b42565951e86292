import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `<data-dir>/ketch.lock`, held for the life of the process, so two nodes
/// never share a data dir. The kernel drops the lock when the process dies, even on kill -9, so a
/// stale lock file never blocks a restart.
public final class DataDirLock: @unchecked Sendable {
    private let fd: Int32
    public let path: String

    public init(dataDirectory: String) throws(NodeError) {
        path = dataDirectory + "/ketch.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw NodeError("data-dir-unwritable", "cannot create \(path): \(String(cString: strerror(errno))); check the --data-dir permissions")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw NodeError("data-dir-in-use", "data dir \(dataDirectory) is in use by another ketch-node\(holder.isEmpty ? "" : " (pid \(holder))"); stop it first or choose another --data-dir")
        }
        self.fd = fd
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit { close(fd) }
}
