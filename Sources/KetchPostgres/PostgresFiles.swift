import Foundation

/// Small file-system helpers that keep Postgres's files owned by its OS user.
enum PostgresFiles {
    /// Creates `path` (one level) owned by `account` with `mode`, or fixes owner and mode if it
    /// exists — initdb and pg_basebackup want their directory to exist, owned, mode 700.
    static func makeDirectory(_ path: String, owner account: OSAccount, mode: mode_t) throws {
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw failure("cannot create directory \(path)")
        }
        try own(path, by: account, mode: mode)
    }

    static func own(_ path: String, by account: OSAccount, mode: mode_t) throws {
        if chown(path, account.uid, account.gid) != 0 && geteuid() == 0 {
            throw failure("cannot give \(path) to user \(account.name)")
        }
        if chmod(path, mode) != 0 {
            throw failure("cannot set the mode of \(path)")
        }
    }

    /// Writes `text` to `path` through a temporary file and a rename, so Postgres never reads
    /// half a file, then fsyncs it; owned by `account`.
    static func write(_ text: String, to path: String, owner account: OSAccount, mode: mode_t = 0o600) throws {
        let temporary = path + ".ketch-tmp"
        let fd = open(temporary, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("cannot write \(temporary)") }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let error = failure("cannot write \(temporary)")
                close(fd)
                unlink(temporary)
                throw error
            }
            written += n
        }
        fsync(fd)
        close(fd)
        try own(temporary, by: account, mode: mode)
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot replace \(path)")
            unlink(temporary)
            throw error
        }
    }

    static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func isEmptyDirectory(_ path: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? ["?"]).isEmpty
    }

    /// Throws unless `account` can enter every directory from `/` down to `path`: a data
    /// directory under /root (mode 700) cannot be used by the postgres user, and Postgres's
    /// own error for that is obscure.
    static func checkReachable(_ path: String, by account: OSAccount) throws {
        guard account.uid != 0 else { return }
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            var info = stat()
            guard stat(current, &info) == 0 else { throw failure("cannot inspect \(current)") }
            let mode = info.st_mode
            let allowed: Bool
            if info.st_uid == account.uid { allowed = mode & S_IXUSR != 0 }
            else if info.st_gid == account.gid { allowed = mode & S_IXGRP != 0 }
            else { allowed = mode & S_IXOTH != 0 }
            if !allowed {
                throw PostgresError(code: .filesystem, message: "OS user '\(account.name)' cannot enter \(current) (mode \(String(mode & 0o7777, radix: 8))), so Postgres cannot use \(path); put the data directory elsewhere (e.g. under /var/lib/ketch) or allow it (chmod o+x \(current))")
            }
        }
    }

    static func failure(_ what: String) -> PostgresError {
        PostgresError(code: .filesystem, message: "\(what): \(String(cString: strerror(errno))); check the ownership and free space of the data directory")
    }
}
