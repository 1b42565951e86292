import Foundation

/// Reads Postgres's own words out of its log and its tools' output.
enum PostgresLog {
    private static let severities = ["PANIC:", "FATAL:", "ERROR:", "error:"]
    private static let explanations = ["could not bind", "DETAIL:", "HINT:"]

    /// The line that says why something failed, without the timestamp/PID prefix: the last
    /// PANIC/FATAL line (else the last ERROR), followed by a line that explains it when there is
    /// one — e.g. `FATAL: could not create any TCP/IP sockets (LOG: could not bind IPv4 address
    /// "127.0.3.1": Address already in use)`.
    static func errorLine(in text: String) -> String? {
        let lines = text.split(separator: "\n").map(String.init)
        var chosen: Int?
        for severity in severities {
            if let index = lines.lastIndex(where: { $0.contains(severity) }) { chosen = index; break }
        }
        guard let chosen else { return nil }
        var line = stripPrefix(lines[chosen])
        let window = lines[max(0, chosen - 6)...min(lines.count - 1, chosen + 2)]
        if let explanation = window.first(where: { candidate in
            candidate != lines[chosen] && explanations.contains(where: { candidate.contains($0) })
        }) {
            line += " (\(stripPrefix(explanation)))"
        }
        return line
    }

    /// Drops the `%m [%p] ` prefix so the line starts at its severity.
    static func stripPrefix(_ line: String) -> String {
        let markers = ["PANIC:", "FATAL:", "ERROR:", "WARNING:", "LOG:", "DETAIL:", "HINT:", "error:"]
        let start = markers.compactMap { line.range(of: $0)?.lowerBound }.min()
        let trimmed = start.map { String(line[$0...]) } ?? line
        return trimmed.replacingOccurrences(of: ":  ", with: ": ").trimmingCharacters(in: .whitespaces)
    }

    /// Size of a file now, so a later read can pick up only what was appended.
    static func size(of path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// The text appended to `path` since `offset` (at most the last 64 KiB of it).
    static func read(_ path: String, from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let end = (try? handle.seekToEnd()) ?? 0
        let start = max(offset, end > 65_536 ? end - 65_536 : 0)
        guard end > start else { return "" }
        try? handle.seek(toOffset: start)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }
}
