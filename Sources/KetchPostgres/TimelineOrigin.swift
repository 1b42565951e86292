import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether this copy's newest timeline is the same timeline as the one of that number on the
/// server it is about to follow — not merely the same number.
///
/// Without a shared WAL archive each promoted server picks the next free timeline ID it knows
/// of, so two servers promoted from different sides of a fault can both pick N. Postgres tells
/// timelines apart by number only: a standby that replayed one server's timeline N, re-pointed
/// at the other's, streams from it. Its walreceiver asks for WAL from the start of the segment
/// it is replaying and flushes the new primary's bytes there, reports them flushed, and counts
/// as a synchronous standby — commits are acknowledged on it — while its startup process can
/// never replay them: the records before its replay position are another branch ("record with
/// incorrect prev-link" and the like, or just no progress). Promoting it later loses those
/// commits (clock seed 6011). pg_rewind cannot help either: it also compares numbers, and says
/// "source and target cluster are on the same timeline".
///
/// A timeline is made by one promotion, whose first record — written at the switch point the
/// history file names — carries the promoting server's clock to the microsecond
/// (`xl_end_of_recovery.end_time`), and only that server ever writes on that timeline. So two
/// servers hold the same timeline N exactly when their histories agree up to N and their first
/// records of N are byte for byte the same. Both are read from files: this copy's `pg_wal`
/// directly, the upstream's through the functions pg_rewind is granted
/// (`pg_read_binary_file`, `pg_ls_dir`) as the replication role.
public enum TimelineOrigin {
    /// One line of a history file: `timeline` ended (its child began) at `end`.
    public struct Switch: Equatable, Sendable, CustomStringConvertible {
        public var timeline: UInt32
        public var end: UInt64
        public var description: String { "timeline \(timeline) ended at \(LSN(end))" }
    }

    /// The lines of a `<tli>.history` file, oldest first; nil when one cannot be read.
    public static func parseHistory(_ text: String) -> [Switch]? {
        var result: [Switch] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, let tli = UInt32(fields[0]), let lsn = LSN(String(fields[1])) else { return nil }
            result.append(Switch(timeline: tli, end: lsn.value))
        }
        return result
    }

    static let pageSize: UInt64 = 8192

    /// Where the first record at or after `end` starts: MAXALIGNed, past the page header when
    /// `end` is on a page boundary (the long header at a segment start).
    static func firstRecord(after end: UInt64, segmentSize: UInt64) -> UInt64 {
        let aligned = (end + 7) & ~7
        if aligned % segmentSize == 0 { return aligned + 40 }
        if aligned % pageSize == 0 { return aligned + 24 }
        return aligned
    }

    /// How many bytes from `start` hold the record that starts there (`bytes` are what follows
    /// `start` in its segment): its `xl_tot_len` bytes plus the page headers between them — a
    /// record, even its header, may run on over a page boundary (in the test the first record of
    /// a timeline began 8 bytes before a page end) — capped at what `bytes` holds. `xl_tot_len`
    /// is always on the first page: records start MAXALIGNed, so 8 bytes at least are left there.
    /// Nil when no record was written there (zeros).
    static func comparedLength(of bytes: [UInt8], at start: UInt64, segmentSize: UInt64) -> Int? {
        guard bytes.count >= 4 else { return nil }
        let total = UInt64(bytes[0]) | UInt64(bytes[1]) << 8 | UInt64(bytes[2]) << 16 | UInt64(bytes[3]) << 24
        guard total >= 24 else { return nil }
        var remaining = total, position = start, physical: UInt64 = 0
        while remaining > 0, physical < UInt64(bytes.count) {
            let onPage = min(remaining, pageSize - position % pageSize)
            physical += onPage
            remaining -= onPage
            position += onPage
            if remaining > 0 {
                let header: UInt64 = position % segmentSize == 0 ? 40 : 24
                physical += header
                position += header
            }
        }
        return Int(min(physical, UInt64(bytes.count)))
    }

    /// Reads `count` bytes at `offset` of a WAL file: nil when neither `name` nor
    /// `name.partial` (a promoted server's last segment of its old timeline) exists.
    public typealias Reader = @Sendable (_ name: String, _ offset: UInt64, _ count: Int) async throws -> [UInt8]?

    /// Why the copy whose `pg_wal` is `walDirectory` is not on the same timeline `N` as the
    /// upstream, or nil when it is, when Postgres itself will refuse to follow (the upstream's
    /// history has no timeline N, or is behind it), or when nothing can be compared (this copy
    /// is on timeline 1, or either side no longer has the segment where N began).
    ///
    /// `upstreamTimeline` is the upstream's current timeline; `upstream` reads its files.
    public static func divergence(walDirectory: String, upstreamTimeline: UInt32, upstream: Reader) async throws -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: walDirectory)) ?? []
        let timelines = names.compactMap { name -> UInt32? in
            guard name.count == 16, name.hasSuffix(".history") else { return nil }
            return UInt32(name.prefix(8), radix: 16)
        }
        guard let mine = timelines.max(), mine > 1, mine <= upstreamTimeline else { return nil }
        let historyName = hex8(mine) + ".history"
        guard let text = try? String(contentsOfFile: walDirectory + "/" + historyName, encoding: .utf8),
              let myHistory = parseHistory(text), let began = myHistory.last?.end else { return nil }
        guard let any = names.first(where: { TimelineSegmentRepair.isSegmentName($0) }),
              let segmentSize = TimelineSegmentRepair.fileSize(walDirectory + "/" + any), segmentSize > 0,
              segmentSize & (segmentSize - 1) == 0 else { return nil }

        // The upstream's history: timeline N must be in it, begun at the same point after the
        // same earlier timelines.
        var theirs: [Switch] = []
        if upstreamTimeline > 1 {
            guard let bytes = try await upstream(hex8(upstreamTimeline) + ".history", 0, 1 << 20),
                  let history = parseHistory(String(decoding: bytes, as: UTF8.self)) else {
                throw PostgresError(code: .queryFailed, message: "the upstream on timeline \(upstreamTimeline) has no readable \(hex8(upstreamTimeline)).history")
            }
            theirs = history
        }
        guard mine == upstreamTimeline || theirs.contains(where: { $0.timeline == mine }) else { return nil }
        let theirsBefore = Array(theirs.prefix(while: { $0.timeline != mine }))
        if theirsBefore != myHistory {
            return "this copy's timeline \(mine) has another history than the upstream's timeline \(mine) (here: \(myHistory.map(\.description).joined(separator: ", ")); upstream: \(theirsBefore.map(\.description).joined(separator: ", ")))"
        }

        // The same switch point: compare the first record of timeline N on both sides.
        let start = firstRecord(after: began, segmentSize: segmentSize)
        let segment = TimelineSegmentRepair.segmentName(timeline: mine, segment: start / segmentSize, size: segmentSize)
        let offset = start % segmentSize
        let want = Int(min(1 << 16, segmentSize - offset))
        guard let local = readLocal(walDirectory + "/" + segment, offset: offset, count: want),
              let length = comparedLength(of: local, at: start, segmentSize: segmentSize) else { return nil }
        guard let remote = try await upstream(segment, offset, length) else { return nil }
        if Array(local.prefix(length)) != remote {
            return "timeline \(mine) here is not the upstream's timeline \(mine): its first record at \(LSN(start)) differs (another server's promotion to the same timeline ID)"
        }
        return nil
    }

    static func readLocal(_ path: String, offset: UInt64, count: Int) -> [UInt8]? {
        for candidate in [path, path + ".partial"] {
            let fd = open(candidate, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: count)
            let n = pread(fd, &buffer, count, off_t(offset))
            guard n > 0 else { return nil }
            return Array(buffer.prefix(n))
        }
        return nil
    }

    static func hex8(_ v: UInt32) -> String { TimelineSegmentRepair.hex8(UInt64(v)) }
}

extension PostgresInstance {
    /// `TimelineOrigin.divergence` of this copy from `upstream`, read over a normal connection
    /// as the replication role (the same access pg_rewind has). Throws when the upstream cannot
    /// be asked or is still in recovery: following it unchecked is what this guards against.
    public func divergence(from upstream: UpstreamServer, replication: ReplicationCredentials) async throws -> String? {
        let connection = try await PGConnection.connect(ConnectionOptions(
            host: upstream.host, port: upstream.port, user: replication.user, database: "postgres",
            password: replication.password, applicationName: "ketch-timeline-check"))
        do {
            let result = try await divergence(over: connection, upstream: upstream)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    private func divergence(over connection: PGConnection, upstream: UpstreamServer) async throws -> String? {
        // Members are told to follow at Steps 3-4, while the leader is still being promoted: wait
        // for that (milliseconds) rather than fail the follow and retry it a second later, which
        // would add that second to every failover.
        var file: String?
        let clock = ContinuousClock(), deadline = clock.now + .seconds(3)
        while true {
            file = try await connection.value("SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_flush_lsn()) END")
            if file != nil || clock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        guard let file, file.count == 24, let timeline = UInt32(file.prefix(8), radix: 16) else {
            throw PostgresError(code: .queryFailed, message: "\(upstream.host):\(upstream.port) is in recovery, not a primary yet; not following it before its timeline can be checked")
        }
        let read: TimelineOrigin.Reader = { name, offset, count in
            for candidate in [name, name + ".partial"] {
                if let hex = try await connection.value("SELECT encode(pg_read_binary_file($1, $2, $3, true), 'hex')",
                                                        ["pg_wal/" + candidate, String(offset), String(count)]) {
                    return Self.bytes(hex: hex)
                }
            }
            return nil
        }
        return try await TimelineOrigin.divergence(walDirectory: dataDirectory + "/pg_wal", upstreamTimeline: timeline, upstream: read)
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: continue
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }
}
