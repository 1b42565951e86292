import KetchShared

/// Text formats shared by every view.
enum Format {
    /// "12:03:38" in UTC: the console shows times of day only, and avoids Foundation.
    static func clock(_ unixMs: Int64) -> String {
        let s = (unixMs / 1000) % 86_400
        let secs = s < 0 ? s + 86_400 : s
        return pad2(secs / 3600) + ":" + pad2(secs / 60 % 60) + ":" + pad2(secs % 60)
    }

    static func pad2(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// A short duration: "0.4s", "12s", "3m05s", "2h03m".
    static func age(_ span: Span) -> String {
        let ms = max(0, span.milliseconds)
        if ms < 10_000 { return "\(ms / 1000).\(ms / 100 % 10)s" }
        let s = ms / 1000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(pad2(s % 60))s" }
        return "\(s / 3600)h\(pad2(s / 60 % 60))m"
    }

    static func seconds(_ s: Double) -> String {
        // A lag the node could not compute travels as inf/nan; a huge one must not overflow.
        guard s.isFinite else { return "?" }
        if s < 10 { return decimal(s, places: 1) + "s" }
        return age(.milliseconds(Int64(min(s, 1e9) * 1000)))
    }

    static func ms(_ ms: Int64) -> String { decimal(Double(ms) / 1000, places: 1) + "s" }

    /// "0B", "512B", "12kB", "1.2MB".
    static func bytes(_ b: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var v = Double(max(0, b)), i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        if i == 0 { return "\(Int64(v))B" }
        return (v < 10 ? decimal(v, places: 1) : "\(Int64(v))") + units[i]
    }

    static func decimal(_ v: Double, places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        guard v.isFinite, abs(v) * scale < 9e18 else { return "?" }
        let n = Int64((abs(v) * scale).rounded())
        let whole = n / Int64(scale), frac = n % Int64(scale)
        var f = String(frac)
        while f.count < places { f = "0" + f }
        return (v < 0 ? "-" : "") + (places > 0 ? "\(whole).\(f)" : "\(whole)")
    }

    static func role(_ r: MemberRole) -> Character {
        switch r { case .primary: "P"; case .sync: "S"; case .async: "A"; case .witness: "W"; case .spare: "-" }
    }

    /// Fits text into `width` cells, marking a cut with the ellipsis glyph.
    static func fit(_ s: String, _ width: Int, _ glyphs: Glyphs) -> String {
        guard width > 0 else { return "" }
        if s.count <= width { return s }
        return String(s.prefix(width - 1)) + String(glyphs.ellipsis)
    }

    /// Splits text into lines of at most `width` cells at spaces where it can.
    static func wrap(_ s: String, _ width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = [], line = ""
        for word in s.split(separator: " ", omittingEmptySubsequences: false) {
            var w = String(word)
            while w.count > width {
                if !line.isEmpty { lines.append(line); line = "" }
                lines.append(String(w.prefix(width)))
                w = String(w.dropFirst(width))
            }
            if line.isEmpty { line = w } else if line.count + 1 + w.count <= width { line += " " + w } else { lines.append(line); line = w }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// Shortens member names that share a prefix: server1, server2 → s1, s2; 127.0.3.1 → .1.
    static func shortNames(_ names: [String]) -> [String: String] {
        guard names.count > 1 else { return Dictionary(names.map { ($0, String($0.prefix(4))) }, uniquingKeysWith: { a, _ in a }) }
        var prefix = names[0]
        for n in names.dropFirst() { while !n.hasPrefix(prefix) { prefix.removeLast() } }
        // Cut back to a boundary so "server1"/"server12" keep their whole number.
        while let last = prefix.last, last.isNumber { prefix.removeLast() }
        let letters = prefix.filter(\.isLetter)
        var out: [String: String] = [:]
        for n in names {
            let rest = String(n.dropFirst(prefix.count))
            if rest.isEmpty || prefix.isEmpty {
                out[n] = String(n.prefix(4))
            } else if let first = letters.first {
                out[n] = String(first) + rest.prefix(3)
            } else {
                out[n] = String(prefix.last!) + rest.prefix(3)
            }
        }
        return out
    }
}
