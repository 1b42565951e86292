import Foundation
import KetchConsole
import Testing

/// Compares rendered text with `__Snapshots__/<name>.txt`. Snapshots are only written when
/// `KETCH_RECORD_SNAPSHOTS=1` is set, so a change in rendering always shows up as a failure first.
func assertSnapshot(_ text: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation, filePath: String = #filePath) {
    let dir = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("__Snapshots__")
    let file = dir.appendingPathComponent(name + ".txt")
    let actual = text + "\n"
    if ProcessInfo.processInfo.environment["KETCH_RECORD_SNAPSHOTS"] == "1" {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        do { try actual.write(to: file, atomically: true, encoding: .utf8) } catch {
            Issue.record("could not record snapshot \(file.path): \(error)", sourceLocation: sourceLocation)
        }
        return
    }
    guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
        Issue.record("missing snapshot \(file.path); record it with: KETCH_RECORD_SNAPSHOTS=1 swift test --filter KetchConsoleTests, then read it before committing", sourceLocation: sourceLocation)
        return
    }
    if expected != actual {
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(e.count, a.count)
        let want = line < e.count ? String(e[line]) : "<end>", got = line < a.count ? String(a[line]) : "<end>"
        Issue.record("""
            snapshot \(name) differs at line \(line + 1):
              expected: \(want)
              actual:   \(got)
            if the change is intended, re-record with KETCH_RECORD_SNAPSHOTS=1 and read the diff before committing
            """, sourceLocation: sourceLocation)
    }
}
