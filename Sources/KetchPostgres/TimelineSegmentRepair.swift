import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Repairs the WAL segment in which a standby crossed a timeline switch while streaming.
///
/// When a standby's walreceiver meets a new timeline, Postgres 15 starts that timeline's segment
/// as a fresh zero-filled file and writes only what it streams from the switch point on; the
/// part before the switch point, which on the new timeline is by definition the parent
/// timeline's WAL, stays zeros. (Crossing a switch at startup copies it; reported on
/// pgsql-hackers, Dec 2025, "Startup PANIC on standby promotion due to zero-filled WAL segment".)
/// Promoting such a standby before the segment is refilled makes the startup process read zeros
/// where its last record should be and PANIC ("invalid record length"), and every later start
/// fails the same way (reliability finding 14b: a leader retried its promote for minutes).
///
/// The repair does what Postgres does at startup: it copies the parent timeline's bytes before
/// the switch point into the new timeline's segment. It only ever fills bytes that are zero in
/// the new segment, only before the switch point, and only when both files are whole segments of
/// the same size; a segment whose bytes there differ and are not zero is a real divergence and
/// is left alone. It must run while Postgres is stopped.
public enum TimelineSegmentRepair {
    /// Returns a description of what was repaired, or nil when there was nothing to do.
    public static func run(walDirectory: String) throws -> String? {
        guard let (timeline, parent, switchPoint) = latestSwitch(walDirectory: walDirectory) else { return nil }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: walDirectory)) ?? []
        // Segment size: every segment file has it (16 MB unless initdb was told otherwise).
        guard let any = names.first(where: { isSegmentName($0) }),
              let size = fileSize(walDirectory + "/" + any), size > 0, size & (size - 1) == 0 else { return nil }
        let segment = switchPoint / size
        let offset = Int(switchPoint % size)
        guard offset > 0 else { return nil }
        let newPath = walDirectory + "/" + segmentName(timeline: timeline, segment: segment, size: size)
        let oldPath = walDirectory + "/" + segmentName(timeline: parent, segment: segment, size: size)
        guard fileSize(newPath) == size, fileSize(oldPath) == size else { return nil }
        guard let old = FileHandle(forReadingAtPath: oldPath) else { return nil }
        defer { try? old.close() }
        guard let oldPrefix = try old.read(upToCount: offset), oldPrefix.count == offset else { return nil }
        let fd = open(newPath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var newPrefix = [UInt8](repeating: 0, count: offset)
        guard pread(fd, &newPrefix, offset, 0) == offset else { return nil }
        var filled = 0
        var merged = newPrefix
        for (i, byte) in oldPrefix.enumerated() where newPrefix[i] != byte {
            guard newPrefix[i] == 0 else { return nil }
            merged[i] = byte
            filled += 1
        }
        guard filled > 0 else { return nil }
        guard pwrite(fd, merged, offset, 0) == offset, fsync(fd) == 0 else {
            throw PostgresError(code: .filesystem, message: "cannot repair WAL segment \(newPath): \(String(cString: strerror(errno)))")
        }
        return "filled \(filled) zero bytes before the timeline \(timeline) switch point \(LSN(switchPoint)) in \((newPath as NSString).lastPathComponent) from timeline \(parent)"
    }

    /// The newest timeline's history file: (timeline, parent, switch point).
    static func latestSwitch(walDirectory: String) -> (UInt32, UInt32, UInt64)? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: walDirectory)) ?? []
        let histories = names.compactMap { name -> (UInt32, String)? in
            guard name.count == 16, name.hasSuffix(".history"), let t = UInt32(name.prefix(8), radix: 16) else { return nil }
            return (t, name)
        }
        guard let (timeline, name) = histories.max(by: { $0.0 < $1.0 }),
              let text = try? String(contentsOfFile: walDirectory + "/" + name, encoding: .utf8) else { return nil }
        // Lines: "<parent tli>\t<switch lsn>\t<reason>"; the last one is the switch into `timeline`.
        let entries = text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard let last = entries.last else { return nil }
        let fields = last.split(whereSeparator: { $0 == "\t" || $0 == " " })
        guard fields.count >= 2, let parent = UInt32(fields[0]), parent < timeline, let lsn = LSN(String(fields[1])) else { return nil }
        return (timeline, parent, lsn.value)
    }

    static func segmentName(timeline: UInt32, segment: UInt64, size: UInt64) -> String {
        let perLogID = 0x1_0000_0000 / size
        return hex8(UInt64(timeline)) + hex8(segment / perLogID) + hex8(segment % perLogID)
    }

    static func hex8(_ v: UInt64) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }

    static func isSegmentName(_ name: String) -> Bool {
        name.count == 24 && name.allSatisfy { $0.isHexDigit }
    }

    static func fileSize(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return UInt64(st.st_size)
    }
}
