import Foundation
import KetchFaults

/// Appends history lines from many threads, one JSON object per line, flushed at once so a run
/// that is killed still leaves every finished operation on disk.
final class HistoryWriter: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    init(path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else { throw HistoryError("cannot write history \(path)") }
        handle = h
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    func append(_ op: HistoryOp) {
        guard var data = try? encoder.encode(op) else { return }
        data.append(UInt8(ascii: "\n"))
        lock.withLock { handle.write(data) }
    }
}

/// One client: a thread that writes unique values (and, for readers, reads them all back)
/// through its conninfo until told to stop.
final class Client: @unchecked Sendable {
    let id: Int
    let conninfo: String
    let reader: Bool
    let pauseMs: Int
    let opTimeoutNs: Int64
    let history: HistoryWriter
    let stop: @Sendable () -> Bool
    private var session: PQSession?
    private var seq: Int64 = 0

    init(id: Int, conninfo: String, reader: Bool, pauseMs: Int, opTimeoutSeconds: Double, history: HistoryWriter, stop: @escaping @Sendable () -> Bool) {
        self.id = id; self.conninfo = conninfo; self.reader = reader; self.pauseMs = pauseMs
        self.opTimeoutNs = Int64(opTimeoutSeconds * 1e9); self.history = history; self.stop = stop
    }

    func run() {
        while !stop() {
            if reader { read() } else { write() }
            usleep(useconds_t(pauseMs * 1000))
        }
        session?.close()
    }

    /// Connects when needed. A failed connect is a failed operation (nothing was sent).
    private func connected(_ start: Int64, _ kind: OpKind, value: Int64?) -> PQSession? {
        if let s = session, s.isOpen { return s }
        session = nil
        let (s, err) = PQSession.connect(conninfo)
        if let s { session = s; return s }
        history.append(HistoryOp(client: id, kind: kind, value: value, start: start, end: boottimeNanoseconds(), outcome: .failed, error: "connect: \(err ?? "?")"))
        usleep(200_000)
        return nil
    }

    private func write() {
        seq += 1
        let value = Int64(id) * 1_000_000_000 + seq
        let start = boottimeNanoseconds()
        guard let s = connected(start, .write, value: value) else { return }
        let deadline = start + opTimeoutNs
        var committing = false
        do {
            _ = s.takeNotices()
            _ = try s.exec("BEGIN", deadline: deadline)
            _ = try s.exec("INSERT INTO items(v, client) VALUES (\(value), \(id))", deadline: deadline)
            committing = true
            _ = try s.exec("COMMIT", deadline: deadline)
            let warnings = s.takeNotices()
            let end = boottimeNanoseconds()
            if s.lastTag != "COMMIT" {
                history.append(HistoryOp(client: id, kind: .write, value: value, start: start, end: end, outcome: .failed, server: s.server, error: "commit answered \(s.lastTag)"))
            } else if !warnings.isEmpty {
                history.append(HistoryOp(client: id, kind: .write, value: value, start: start, end: end, outcome: .indeterminate, server: s.server, error: "commit warning: \(warnings.joined(separator: " | "))"))
            } else {
                history.append(HistoryOp(client: id, kind: .write, value: value, start: start, end: end, outcome: .ok, server: s.server))
            }
        } catch {
            let end = boottimeNanoseconds()
            switch error {
            case .server(let state, let text):
                // A definite error before or at COMMIT: the transaction did not commit.
                _ = try? s.exec("ROLLBACK", deadline: end + 1_000_000_000)
                history.append(HistoryOp(client: id, kind: .write, value: value, start: start, end: end, outcome: committing ? .indeterminate : .failed, server: s.server, error: "\(state) \(text)"))
            case .lost(let text):
                // Lost before COMMIT was sent: the server aborts the transaction. During COMMIT: unknown.
                history.append(HistoryOp(client: id, kind: .write, value: value, start: start, end: end, outcome: committing ? .indeterminate : .failed, server: s.server, error: "lost: \(text)"))
                session = nil
            }
        }
    }

    private func read() {
        let start = boottimeNanoseconds()
        guard let s = connected(start, .read, value: nil) else { return }
        do {
            let rows = try s.exec("SELECT v FROM items", deadline: start + opTimeoutNs)
            history.append(HistoryOp(client: id, kind: .read, start: start, end: boottimeNanoseconds(), outcome: .ok, server: s.server,
                                     values: rows.compactMap { $0.first.flatMap { Int64($0) } }))
        } catch {
            let text: String
            switch error { case .server(let st, let t): text = "\(st) \(t)"; case .lost(let t): text = "lost: \(t)"; session = nil }
            history.append(HistoryOp(client: id, kind: .read, start: start, end: boottimeNanoseconds(), outcome: .failed, server: s.server, error: text))
        }
    }
}
