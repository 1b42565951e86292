import Foundation
import KetchPostgres
import Testing

/// Reliability finding 14b: a standby that crossed a timeline switch by streaming has zeros where
/// the new timeline's segment should repeat the parent's WAL before the switch point, and
/// PANICs when promoted. The repair refills exactly those zeros from the parent's segment.
struct TimelineSegmentRepairTests {
    static let size = 1 << 16

    /// A pg_wal with 64 KiB segments (small, so the test is quick; the repair reads the size from
    /// the files): timeline 1's segment 0x308 full of non-zero bytes, timeline 2 switched at
    /// 0/3088000 (32 KiB into that segment).
    func walDirectory() throws -> (dir: String, old: [UInt8], newPath: String) {
        let dir = "/tmp/ktsr-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        let old = (0..<Self.size).map { UInt8(truncatingIfNeeded: ($0 &* 31 &+ 7) % 255 + 1) }
        try Data(old).write(to: URL(fileURLWithPath: dir + "/000000010000000000000308"))
        try Data("1\t0/3088000\tno recovery target specified\n".utf8).write(to: URL(fileURLWithPath: dir + "/00000002.history"))
        return (dir, old, dir + "/000000020000000000000308")
    }

    @Test func zerosBeforeAStreamedSwitchAreFilledFromTheParentTimeline() throws {
        let (dir, old, newPath) = try walDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let offset = 0x8000
        // Zeros before the switch point, except the last 4 KiB the walreceiver did stream; the new
        // timeline's own WAL after it.
        var new = [UInt8](repeating: 0, count: Self.size)
        for i in (offset - 4096)..<offset { new[i] = old[i] }
        for i in offset..<Self.size { new[i] = UInt8(truncatingIfNeeded: i % 251 + 1) }
        try Data(new).write(to: URL(fileURLWithPath: newPath))

        let what = try TimelineSegmentRepair.run(walDirectory: dir)
        #expect(what?.contains("filled \(offset - 4096) zero bytes") == true, "\(what ?? "nothing repaired")")
        let repaired = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newPath)))
        #expect(Array(repaired[0..<offset]) == Array(old[0..<offset]), "the prefix is not the parent's WAL")
        #expect(Array(repaired[offset...]) == Array(new[offset...]), "bytes after the switch point changed")
        // Done once: a second run finds nothing to do.
        #expect(try TimelineSegmentRepair.run(walDirectory: dir) == nil)
    }

    @Test func aSegmentThatDivergesBeforeTheSwitchIsLeftAlone() throws {
        let (dir, old, newPath) = try walDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var new = [UInt8](repeating: 0, count: Self.size)
        new[100] = old[100] &+ 1 == 0 ? 2 : old[100] &+ 1
        try Data(new).write(to: URL(fileURLWithPath: newPath))
        #expect(try TimelineSegmentRepair.run(walDirectory: dir) == nil)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: newPath))) == new)
    }

    @Test func nothingIsDoneWithoutBothSegmentsOrAHistory() throws {
        let (dir, _, newPath) = try walDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try TimelineSegmentRepair.run(walDirectory: dir) == nil, "no new-timeline segment yet")
        try Data([UInt8](repeating: 0, count: 1000)).write(to: URL(fileURLWithPath: newPath))
        #expect(try TimelineSegmentRepair.run(walDirectory: dir) == nil, "a partial segment file")
        try FileManager.default.removeItem(atPath: dir + "/00000002.history")
        try Data([UInt8](repeating: 0, count: Self.size)).write(to: URL(fileURLWithPath: newPath))
        #expect(try TimelineSegmentRepair.run(walDirectory: dir) == nil, "no history file")
    }
}
