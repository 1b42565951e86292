import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Collects notices (WARNINGs) the server sends during a statement: a COMMIT that was cancelled
/// while waiting for the synchronous standby says so only in a WARNING.
final class NoticeBox: @unchecked Sendable {
    var lines: [String] = []
}

/// A blocking libpq session owned by one client thread, with a deadline on every statement so a
/// paused server or a silent partition can never hang the workload.
final class PQSession {
    enum Failure: Error {
        /// The server answered with an error; the transaction did not commit (sqlstate, text).
        case server(String, String)
        /// The connection broke or the deadline passed: we cannot know what the server did.
        case lost(String)
    }

    private var conn: OpaquePointer?
    private let notices = NoticeBox()
    private(set) var server: String?
    /// The command tag of the last statement (`COMMIT`, or `ROLLBACK` for a commit of an aborted transaction).
    private(set) var lastTag = ""

    static func connect(_ conninfo: String) -> (PQSession?, String?) {
        guard let c = PQconnectdb(conninfo) else { return (nil, "out of memory") }
        guard PQstatus(c) == CONNECTION_OK else {
            let e = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(c)
            return (nil, e.replacingOccurrences(of: "\n", with: " | "))
        }
        let s = PQSession()
        s.conn = c
        PQsetNoticeReceiver(c, { arg, res in
            guard let arg, let res else { return }
            let box = Unmanaged<NoticeBox>.fromOpaque(arg).takeUnretainedValue()
            box.lines.append(String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines))
        }, Unmanaged.passUnretained(s.notices).toOpaque())
        if let rows = try? s.exec("SELECT host(inet_server_addr())", deadline: boottimeNanoseconds() + 3_000_000_000), let v = rows.first?.first {
            s.server = v
        }
        return (s, nil)
    }

    deinit { close() }

    func close() {
        if let c = conn { PQfinish(c) }
        conn = nil
    }

    var isOpen: Bool { conn != nil && PQstatus(conn) == CONNECTION_OK }

    /// Notices received since the last call.
    func takeNotices() -> [String] { defer { notices.lines.removeAll() }; return notices.lines }

    /// Runs one statement; returns rows of text columns. Throws `.server` for a definite error
    /// and `.lost` when the connection broke or `deadline` (CLOCK_BOOTTIME ns) passed.
    func exec(_ sql: String, deadline: Int64) throws(Failure) -> [[String]] {
        guard let c = conn else { throw .lost("not connected") }
        guard PQsendQuery(c, sql) == 1 else { let e = errorText(); close(); throw .lost(e) }
        let fd = PQsocket(c)
        while PQisBusy(c) == 1 {
            let left = (deadline - boottimeNanoseconds()) / 1_000_000
            if left <= 0 { close(); throw .lost("timed out") }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, Int32(min(left, 200)))
            if n > 0, PQconsumeInput(c) == 0 { let e = errorText(); close(); throw .lost(e) }
        }
        var rows: [[String]] = []
        var failure: Failure?
        while let res = PQgetResult(c) {
            defer { PQclear(res) }
            switch PQresultStatus(res) {
            case PGRES_TUPLES_OK:
                for i in 0..<PQntuples(res) {
                    var row: [String] = []
                    for j in 0..<PQnfields(res) { row.append(String(cString: PQgetvalue(res, i, j))) }
                    rows.append(row)
                }
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                lastTag = String(cString: PQcmdStatus(res))
            default:
                let state = PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
                let text = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
                failure = state.isEmpty || state.hasPrefix("08") || state.hasPrefix("57P") ? .lost(text) : .server(state, text)
            }
        }
        if PQstatus(c) != CONNECTION_OK {
            let e = errorText(); close()
            throw failure.flatMap { if case .server = $0 { return $0 } else { return nil } } ?? .lost(e)
        }
        if let failure { throw failure }
        return rows
    }

    private func errorText() -> String {
        guard let c = conn else { return "not connected" }
        return String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " | ")
    }
}
