import KetchShared

/// Draws the model into a `TextGrid`. Pure: the same model, size and options always give the
/// same grid, which is what the snapshot tests rely on.
public final class ConsoleRenderer {
    let model: ConsoleModel
    let options: RenderOptions
    var grid: TextGrid
    var g: Glyphs { options.glyphs }

    init(model: ConsoleModel, options: RenderOptions, grid: TextGrid) {
        self.model = model; self.options = options; self.grid = grid
    }

    public static func render(_ model: ConsoleModel, size: GridSize, options: RenderOptions = .standard) -> TextGrid {
        let r = ConsoleRenderer(model: model, options: options, grid: TextGrid(size: size))
        r.draw()
        if !options.color { r.grid.restyle(x: 0, y: 0, width: size.width, height: size.height) { $0.color = .none } }
        return r.grid
    }

    /// Narrow or short terminals drop frames and columns rather than overlap.
    var compact: Bool { grid.width < 60 || grid.height < 16 }

    func draw() {
        let w = grid.width, h = grid.height
        guard w > 0, h > 0 else { return }
        if w < 20 || h < 4 {
            grid.put(Format.fit("ketch-tui: terminal too small", w * h, g), x: 0, y: 0)
            return
        }
        drawHeader()
        drawFooter()
        var bottom = h - 1
        if let line = statusLine {
            bottom -= 1
            grid.put(Format.fit(line.text, w, g), x: 0, y: bottom, style: line.style)
        }
        let body = (top: 1, height: bottom - 1)
        switch model.screen {
        case .overview: drawOverview(top: body.top, height: body.height)
        case .detail(let id): drawDetail(id, top: body.top, height: body.height)
        }
        drawOverlay()
    }

    var statusLine: (text: String, style: CellStyle)? {
        if model.editingFilter { return ("/ filter: \(model.filter)_   Enter keep  Esc clear", .bold) }
        if let s = model.status { return (s, .color(.yellow)) }
        if !model.filter.isEmpty { return ("filter: \(model.filter)   (Esc clears)", .dim) }
        return nil
    }

    func drawHeader() {
        let w = grid.width
        grid.fill(x: 0, y: 0, width: w, height: 1, with: Cell(" ", .reverse))
        let live = model.cluster.endpoints.filter { model.cluster.reporters[$0]?.isLive == true }.count
        let total = model.cluster.endpoints.count
        let dbs = model.cluster.databases.count
        var left = " Ketch"
        if case .detail(let id) = model.screen, let db = model.cluster.database(id) { left += " › \(db.name)" }
        let middle = "  \(live)/\(total) feeds live  \(dbs) database\(dbs == 1 ? "" : "s")"
        let right = Format.clock(model.now.wallUnixMs) + " UTC "
        var x = grid.put(left, x: 0, y: 0, style: CellStyle(bold: true, reverse: true))
        if x + middle.count + right.count <= w {
            x = grid.put(middle, x: x, y: 0, style: CellStyle(color: live < total ? .red : .none, reverse: true))
        } else if x + 6 + right.count <= w {
            grid.put(" \(live)/\(total)", x: x, y: 0, style: CellStyle(color: live < total ? .red : .none, reverse: true))
        }
        if right.count < w - left.count { grid.put(right, x: w - right.count, y: 0, style: .reverse) }
    }

    static let footerKeys: [(key: String, label: String)] = [
        ("↑↓", "move"), ("Tab", "pane"), ("Enter", "open"), ("c", "create"), ("f", "failover"),
        ("d", "delete"), ("/", "filter"), ("?", "help"), ("q", "quit"),
    ]

    func drawFooter() {
        let y = grid.height - 1, w = grid.width
        grid.fill(x: 0, y: y, width: w, height: 1, with: Cell(" ", .reverse))
        var x = 0
        let keys = Self.footerKeys.map { ($0.key == "↑↓" ? g.up + g.down : $0.key, $0.label) }
        // Every key always shows; labels fill whatever room is left, left to right.
        var spare = w - keys.reduce(0) { $0 + $1.0.count + 1 }
        for (key, label) in keys {
            x = grid.put(key, x: x, y: y, style: CellStyle(bold: true, reverse: true))
            if label.count + 1 <= spare {
                x = grid.put(" " + label, x: x, y: y, style: .reverse)
                spare -= label.count + 1
            }
            x += 1
        }
    }

    // MARK: frames and tables

    /// Draws a frame with a title; returns the inner rectangle. Compact mode draws a title line only.
    func frame(_ title: String, x: Int, y: Int, width: Int, height: Int, focused: Bool) -> (x: Int, y: Int, width: Int, height: Int) {
        let titleStyle = CellStyle(color: focused ? .cyan : .none, bold: true)
        if compact {
            grid.put(Format.fit(title, width, g), x: x, y: y, style: CellStyle(bold: true, reverse: focused))
            return (x, y + 1, width, height - 1)
        }
        let border = CellStyle(color: focused ? .cyan : .none, dim: !focused)
        grid.put(String(g.topLeft) + String(repeating: g.horizontal, count: max(0, width - 2)) + String(g.topRight), x: x, y: y, style: border)
        for row in (y + 1)..<(y + height - 1) {
            grid.put(String(g.vertical), x: x, y: row, style: border)
            grid.put(String(g.vertical), x: x + width - 1, y: row, style: border)
        }
        grid.put(String(g.bottomLeft) + String(repeating: g.horizontal, count: max(0, width - 2)) + String(g.bottomRight), x: x, y: y + height - 1, style: border)
        grid.put(" " + Format.fit(title, width - 6, g) + " ", x: x + 2, y: y, style: titleStyle)
        return (x + 1, y + 1, width - 2, height - 2)
    }

    struct Column {
        var title: String
        var width: Int
        /// Lower numbers stay longest when the table is too narrow.
        var priority: Int
        var flex = false
    }

    /// One table cell: spans of text with their own styles.
    typealias Spans = [(String, CellStyle)]

    /// Picks the columns that fit in `width` (one flexible column takes the rest).
    static func fitColumns(_ columns: [Column], width: Int) -> [Column] {
        var chosen = columns
        func needed(_ cs: [Column]) -> Int { cs.reduce(0) { $0 + ($1.flex ? max(6, $1.width) : $1.width) + 1 } }
        while needed(chosen) > width, let drop = chosen.indices.filter({ _ in chosen.count > 1 }).max(by: { chosen[$0].priority < chosen[$1].priority }) {
            chosen.remove(at: drop)
        }
        let spare = width - needed(chosen)
        if let f = chosen.firstIndex(where: \.flex) { chosen[f].width = max(6, chosen[f].width) + max(0, spare) }
        return chosen
    }

    /// The first row shown so that the selection stays in view.
    static func scrollStart(selected: Int, count: Int, rows: Int) -> Int {
        guard count > rows, rows > 0 else { return 0 }
        return max(0, min(selected - rows / 2, count - rows))
    }

    func table(_ columns: [Column], rows count: Int, area: (x: Int, y: Int, width: Int, height: Int),
                        selected: Int?, focused: Bool, header: Bool = true, cell: (Int, String) -> Spans) {
        guard area.height > 0, area.width > 2 else { return }
        let cols = Self.fitColumns(columns, width: area.width - 2)
        var y = area.y
        var rowsAvailable = area.height
        if header && area.height >= 2 {
            var x = area.x + 2
            for c in cols {
                grid.put(Format.fit(c.title, c.width, g), x: x, y: y, style: CellStyle(bold: true, dim: true))
                x += c.width + 1
            }
            y += 1
            rowsAvailable -= 1
        }
        if count == 0 { return }
        let start = Self.scrollStart(selected: selected ?? 0, count: count, rows: rowsAvailable)
        for i in start..<min(count, start + rowsAvailable) {
            var x = area.x + 2
            for c in cols {
                var cx = x
                for (text, style) in cell(i, c.title) {
                    cx = grid.put(text, x: cx, y: y, style: style, limit: x + c.width - cx)
                }
                x += c.width + 1
            }
            if i == selected {
                grid.put(String(g.selected), x: area.x, y: y, style: CellStyle(color: .cyan, bold: true))
                if focused { grid.restyle(x: area.x + 1, y: y, width: area.width - 1) { $0.reverse = true } }
            }
            y += 1
        }
        if start > 0 { grid.put(g.up, x: area.x + area.width - 1, y: area.y + (header ? 1 : 0), style: .dim) }
        if start + rowsAvailable < count { grid.put(g.down, x: area.x + area.width - 1, y: y - 1, style: .dim) }
    }

    func bar(_ fraction: Double, width: Int) -> String {
        guard width > 0 else { return "" }
        let f = max(0, min(1, fraction.isFinite ? fraction : 0))
        let full = Int((f * Double(width)).rounded())
        return String(repeating: g.barFull, count: full) + String(repeating: g.barEmpty, count: width - full)
    }

    func sparkline(_ values: [Int64], width: Int) -> String {
        guard width > 0 else { return "" }
        let tail = Array(values.suffix(width))
        let top = max(1, tail.max() ?? 1)
        let levels = g.spark
        var s = String(repeating: " ", count: width - tail.count)
        for v in tail {
            s.append(v <= 0 ? levels[0] : levels[min(levels.count - 1, Int((Double(v) / Double(top)) * Double(levels.count - 1)) )])
        }
        return s
    }

    static func lagColor(bytes: Int64, seconds: Double) -> ConsoleColor {
        if bytes >= 16_000_000 || seconds >= 5 { return .red }
        if bytes >= 1_000_000 || seconds >= 1 { return .yellow }
        return .green
    }

    static func epochColor(_ s: EpochState?) -> ConsoleColor {
        switch s { case .open: .green; case .new: .yellow; case .closed: .red; case nil: .red }
    }

    static func healthColor(_ h: MemberHealth?) -> ConsoleColor {
        switch h { case .alive: .green; case .suspect: .yellow; case .dead: .red; case nil: .none }
    }

    static func eventColor(_ k: ClusterEventKind) -> ConsoleColor {
        switch k {
        case .error: .red
        case .failover, .switchover: .magenta
        case .epoch: .cyan
        case .membership: .yellow
        case .lease: .blue
        case .replica, .postgres: .none
        }
    }

    /// How the console's link to a member reads: "live 0.4s", "unreachable 12s", "connecting".
    func linkText(_ link: ReporterLink?, lastHeard: Instant?) -> (String, CellStyle) {
        let now = model.now.monotonic
        switch link {
        case .live: return ("live " + Format.age(now - (lastHeard ?? now)), .color(.green))
        case .connecting: return ("connecting", .color(.yellow))
        case .unreachable(let since, _): return ("unreachable " + Format.age(now - since), .color(.red, bold: true))
        case nil: return ("not followed", .dim)
        }
    }
}

extension ConsoleRenderer {
    /// The group column's abbreviations, exposed for tests.
    public static func shortNamesForTesting(_ names: [String]) -> [String: String] { Format.shortNames(names) }
}
