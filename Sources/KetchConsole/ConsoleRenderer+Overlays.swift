import KetchShared

extension ConsoleRenderer {
    /// Every key, as the help overlay lists it (and docs/console.md repeats it).
    public static let keyHelp: [(keys: String, action: String)] = [
        ("↑ ↓  j k", "move the selection"),
        ("PgUp PgDn  g G", "page up / down, first / last"),
        ("Tab  ← →", "next / previous pane"),
        ("Enter", "open the selected database's detail"),
        ("Esc", "back, close a dialog, clear the filter"),
        ("c", "create a database (form or YAML file)"),
        ("f", "fail over the selected database"),
        ("d", "delete the selected database (data kept)"),
        ("/", "filter rows by text"),
        ("?", "this help"),
        ("q  Ctrl-C", "quit"),
    ]

    func drawOverlay() {
        switch model.overlay {
        case .none: return
        case .help: drawHelp()
        case .create(let form): drawCreate(form)
        case .failover(let flow): drawFailover(flow)
        case .delete(let flow): drawDelete(flow)
        }
    }

    /// A centred box with a title and lines; cut at the bottom if the terminal is too short.
    /// Progress dialogs sit at the bottom so the database table stays visible while it changes.
    func dialog(_ title: String, _ lines: [Spans], width wanted: Int, style: CellStyle = .bold, atBottom: Bool = false) {
        let width = min(grid.width, wanted)
        let height = min(grid.height, lines.count + 2)
        let x = (grid.width - width) / 2
        let y = atBottom ? max(0, grid.height - 1 - height) : max(0, (grid.height - height) / 2)
        grid.fill(x: x, y: y, width: width, height: height)
        let border = CellStyle(color: .cyan, bold: true)
        grid.put(String(g.topLeft) + String(repeating: g.horizontal, count: max(0, width - 2)) + String(g.topRight), x: x, y: y, style: border)
        for row in (y + 1)..<max(y + 1, y + height - 1) {
            grid.put(String(g.vertical), x: x, y: row, style: border)
            grid.put(String(g.vertical), x: x + width - 1, y: row, style: border)
        }
        if height > 1 {
            grid.put(String(g.bottomLeft) + String(repeating: g.horizontal, count: max(0, width - 2)) + String(g.bottomRight), x: x, y: y + height - 1, style: border)
        }
        grid.put(" " + Format.fit(title, width - 6, g) + " ", x: x + 2, y: y, style: style)
        for (i, spans) in lines.prefix(max(0, height - 2)).enumerated() {
            var cx = x + 2
            for (t, s) in spans { cx = grid.put(t, x: cx, y: y + 1 + i, style: s, limit: x + width - 2 - cx) }
        }
    }

    func drawHelp() {
        let keyWidth = 16
        var lines: [Spans] = Self.keyHelp.map { k in
            let keys = options.glyphs == .unicode ? k.keys : k.keys.replacingArrows()
            return [(keys.padding(keyWidth), CellStyle(color: .cyan, bold: true)), (k.action, .plain)]
        }
        lines.append([])
        lines.append([("any key closes this help", .dim)])
        dialog("Keys", lines, width: 60)
    }

    func drawCreate(_ form: CreateForm) {
        let width = min(grid.width, 72)
        let labelWidth = 13
        let valueWidth = max(8, min(32, width - labelWidth - 6))
        var lines: [Spans] = []
        for field in CreateForm.Field.allCases {
            let focused = field == form.focus
            var value = field == .password ? String(repeating: "*", count: form[field].count) : form[field]
            if focused && form.pendingRequest == nil { value += "_" }
            if value.count > valueWidth { value = String(g.ellipsis) + value.suffix(valueWidth - 1) }
            let label = (form.errors[field] != nil ? "!" : " ") + field.label
            lines.append([(label.padding(labelWidth), form.errors[field] != nil ? .color(.red, bold: true) : .bold),
                          (value.padding(valueWidth), CellStyle(reverse: focused, dim: !focused && form[field].isEmpty)),
                          (focused ? " " + field.hint : "", .dim)])
            if field == .specPath { lines.append([("   or fill in the fields:", .dim)]) }
        }
        lines.append([])
        for field in CreateForm.Field.allCases {
            if let e = form.errors[field] {
                for l in Format.wrap("\(field.label): \(e)", width - 4) { lines.append([(l, .color(.red))]) }
            }
        }
        if let f = form.failure {
            for l in Format.wrap(f, width - 4) { lines.append([(l, .color(.red, bold: true))]) }
        }
        if form.pendingRequest != nil {
            lines.append([("creating \(form[.name])… (Esc hides; the result goes to the event pane)", .color(.yellow))])
        } else {
            lines.append([("Tab/↓ next field  Enter create  Esc cancel", .dim)])
        }
        dialog("Create database", lines, width: width)
    }

    func drawFailover(_ flow: FailoverFlow) {
        let width = min(grid.width, 68)
        var lines: [Spans] = [[("primary ", .dim), (flow.fromPrimary ?? "none", .bold),
                               ("   epoch ", .dim), (flow.fromEpoch?.short ?? "-", .plain)]]
        lines.append([])
        switch flow.stage {
        case .pick:
            lines.append([("New primary (in-sync members):", .plain)])
            for (i, t) in flow.targets.enumerated() {
                let chosen = i == flow.choice
                lines.append([(chosen ? String(g.selected) + " " : "  ", .color(.cyan, bold: true)),
                              (t ?? "any in-sync member (the node chooses)", CellStyle(bold: chosen, reverse: chosen))])
            }
            lines.append([])
            lines.append([("↑↓ choose  Enter next  Esc cancel", .dim)])
        case .confirm:
            lines.append([("Fail over ", .plain), (flow.name, .bold), (" from ", .plain), (flow.fromPrimary ?? "none", .bold),
                          (" to ", .plain), (flow.target ?? "a member the node chooses", .bold), ("?", .plain)])
            lines.append([("The current epoch closes; writes pause until the new one opens.", .dim)])
            lines.append([])
            lines.append([("y", .color(.green, bold: true)), (" fail over   ", .plain), ("n", .bold), (" back   ", .plain), ("Esc", .bold), (" cancel", .plain)])
        case .running(_, let since):
            lines.append([("failing over to \(flow.target ?? "a node-chosen member")… ", .color(.yellow, bold: true)),
                          (Format.age(model.now.monotonic - since), .plain)])
            for p in flow.progress.suffix(8) { lines.append([("  " + p, .plain)]) }
            lines.append([("Esc hides this; the outcome goes to the event pane", .dim)])
        case .waitingForEpoch(let since):
            for p in flow.progress.suffix(6) { lines.append([("  " + p, .plain)]) }
            lines.append([("accepted; waiting for the new epoch to open… ", .color(.yellow, bold: true)),
                          (Format.age(model.now.monotonic - since), .plain)])
        case .done(let text):
            for p in flow.progress.suffix(6) { lines.append([("  " + p, .dim)]) }
            for l in Format.wrap(text, width - 4) { lines.append([(l, .color(.green, bold: true))]) }
            lines.append([("any key closes", .dim)])
        case .failed(let why):
            for p in flow.progress.suffix(6) { lines.append([("  " + p, .dim)]) }
            for l in Format.wrap("failed: " + why, width - 4) { lines.append([(l, .color(.red, bold: true))]) }
            lines.append([("any key closes", .dim)])
        }
        let following: Bool
        switch flow.stage { case .pick, .confirm: following = false; default: following = true }
        dialog("Fail over \(flow.name)", lines, width: width, atBottom: following)
    }

    func drawDelete(_ flow: DeleteFlow) {
        let width = min(grid.width, 64)
        var lines: [Spans] = []
        switch flow.stage {
        case .confirm:
            lines.append([("Delete ", .plain), (flow.name, .bold), ("?", .plain)])
            for l in Format.wrap("Ketch stops managing it; its data stays on disk on every member.", width - 4) { lines.append([(l, .dim)]) }
            lines.append([])
            lines.append([("y", .color(.red, bold: true)), (" delete   ", .plain), ("n", .bold), ("/", .plain), ("Esc", .bold), (" cancel", .plain)])
        case .running:
            lines.append([("deleting \(flow.name)…", .color(.yellow, bold: true))])
        case .done(let text):
            for l in Format.wrap(text, width - 4) { lines.append([(l, .color(.green, bold: true))]) }
            lines.append([("any key closes", .dim)])
        case .failed(let why):
            for l in Format.wrap("failed: " + why, width - 4) { lines.append([(l, .color(.red, bold: true))]) }
            lines.append([("any key closes", .dim)])
        }
        dialog("Delete \(flow.name)", lines, width: width)
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func replacingArrows() -> String {
        var s = ""
        for c in self {
            switch c {
            case "↑": s += "Up"
            case "↓": s += "Down"
            case "←": s += "Left"
            case "→": s += "Right"
            default: s.append(c)
            }
        }
        return s
    }
}
