import KetchShared

extension ConsoleRenderer {
    func drawDetail(_ id: ReplicaID, top: Int, height: Int) {
        guard let db = model.cluster.database(id) else {
            grid.put("database \(id.short) is no longer reported by any member; Esc goes back", x: 1, y: top + 1, style: .color(.yellow))
            return
        }
        let now = model.now.monotonic
        let wide = grid.width >= 120
        var lines: [Spans] = []
        let ports: Spans = [("ports  ", .dim), ("service \(db.port), closed \(db.closedPort)", .plain),
                            ("   group size ", .dim), ("\(db.quorumGroupSize) (data quorum \(db.quorumGroupSize / 2 + 1))", .plain)]
        let replica: Spans = [("replica ", .dim), (db.replica.rawValue, .plain)]
        if wide { lines.append(ports + [("   ", .plain)] + replica) } else { lines += [ports, [("       ", .plain)] + replica] }
        for (label, epoch) in [("epoch  ", db.epoch), ("prior  ", db.priorEpoch)] {
            let (head, tail) = epochLine(label, epoch)
            if wide || tail.isEmpty { lines.append(head + tail) } else { lines += [head, [("       ", .plain)] + tail] }
        }
        if let lease = db.lease {
            let left = db.leaseRemainingMs(at: now) ?? 0
            let frac = lease.durationMs > 0 ? Double(left) / Double(lease.durationMs) : 0
            let head: Spans = [("lease  ", .dim), (lease.holder.map { model.cluster.name(of: $0) } ?? "no holder", .bold), (" ", .plain),
                               (bar(frac, width: 10), .color(frac > 0.5 ? .green : frac > 0.2 ? .yellow : .red)),
                               (" \(Format.ms(left)) of \(Format.ms(lease.durationMs))", .plain)]
            let tail: Spans = [("   ballot ", .dim), (lease.ballot?.description ?? "-", .plain),
                               ("   for epoch ", .dim), (lease.epoch.short, .plain)]
            lines.append(head + tail)
        } else {
            lines.append([("lease  ", .dim), ("no lease reported", .color(.red))])
        }
        lines.append(leaseTimeline(db))
        if !db.disagreeing.isEmpty {
            lines.append([("note  ", .dim), ("\(db.disagreeing.joined(separator: ", ")) report a different primary or epoch", .color(.red))])
        }
        if db.stale { lines.append([("note  ", .dim), ("no reachable member reports this database; figures may be old", .color(.yellow))]) }

        let chrome = compact ? 1 : 2
        let infoHeight = min(lines.count + chrome, max(chrome + 1, height / 2))
        let info = frame("\(db.name) " + (db.stale ? "(stale)" : ""), x: 0, y: top, width: grid.width, height: infoHeight, focused: false)
        for (i, spans) in lines.prefix(info.height).enumerated() {
            var x = info.x + 1
            for (t, s) in spans { x = grid.put(t, x: x, y: info.y + i, style: s, limit: info.x + info.width - x) }
        }
        let rest = height - infoHeight
        let membersHeight = min(db.members.count + chrome + 1, max(0, rest - (compact ? 2 : 4)))
        if membersHeight > chrome { drawDetailMembers(db, y: top + infoHeight, height: membersHeight) }
        let eventsHeight = rest - max(0, membersHeight)
        if eventsHeight > chrome { drawEvents(model.visibleEvents, y: top + infoHeight + membersHeight, height: eventsHeight, focused: model.focus == .events) }
    }

    /// An epoch's ID and state, then its group and data quorum (drawn on a second line when narrow).
    func epochLine(_ label: String, _ e: EpochStatus?) -> (Spans, Spans) {
        guard let e else { return ([(label, .dim), ("none", .dim)], []) }
        let cluster = model.cluster
        let names = { (ids: [ServerID]) in ids.map { cluster.name(of: $0) }.joined(separator: " ") }
        let head: Spans = [(label, .dim), (e.id.short, .bold), (" ", .plain),
                           (e.state.rawValue, .color(Self.epochColor(e.state), bold: true))]
        var tail: Spans = [("   group ", .dim), (names(e.quorumGroup), .plain),
                           ("   data quorum ", .dim), (names(e.dataQuorum), .plain)]
        if let s = e.successor { tail += [("   successor ", .dim), (s.short, .plain)] }
        return (head, tail)
    }

    /// The last minute of lease holders, one cell a second: each holder gets a letter, `.` no holder.
    func leaseTimeline(_ db: DatabaseView) -> Spans {
        let history = model.cluster.leaseHistory[db.replica] ?? []
        let holders = Array(Set(history.compactMap { $0 })).sorted()
        // Each holder is drawn as the last character of its name (server1 → 1) unless two clash.
        var letters: [String: Character] = [:]
        let lasts = holders.map { $0.last ?? "?" }
        for (i, h) in holders.enumerated() {
            letters[h] = Set(lasts).count == lasts.count ? lasts[i] : Character(Unicode.Scalar(UInt8(65 + i % 26)))
        }
        var line = String(repeating: " ", count: ClusterModel.historyLength - history.count)
        for h in history { line.append(h.flatMap { letters[$0] } ?? ".") }
        var spans: Spans = [("leases ", .dim), ("-60s ", .dim), (line, .color(.cyan)), (" now", .dim)]
        if !holders.isEmpty {
            spans.append(("  " + holders.map { "\(letters[$0]!)=\($0)" }.joined(separator: " "), .dim))
        }
        return spans
    }

    func drawDetailMembers(_ db: DatabaseView, y: Int, height: Int) {
        let focused = model.focus != .events
        let area = frame("Quorum group", x: 0, y: y, width: grid.width, height: height, focused: focused)
        let columns = [
            Column(title: "MEMBER", width: 10, priority: 0),
            Column(title: "ROLE", width: 7, priority: 1),
            Column(title: "DATA", width: 8, priority: 2),
            Column(title: "POSTGRES", width: 13, priority: 3),
            Column(title: "PORT", width: 5, priority: 6),
            Column(title: "LSN", width: 11, priority: 7),
            Column(title: "REPLAY", width: 11, priority: 8),
            Column(title: "LAG", width: 12, priority: 4),
            Column(title: "LAG LAST 60s", width: 14, priority: 5, flex: true),
        ]
        let history = model.cluster.lagHistory[db.replica] ?? [:]
        let sparkWidth = Self.fitColumns(columns, width: area.width - 2).first { $0.flex }?.width ?? 0
        table(columns, rows: db.members.count, area: area, selected: nil, focused: false, header: !compact) { i, col in
            let m = db.members[i]
            let pg = m.postgres
            switch col {
            case "MEMBER": return [(m.name, m.reachable ? .bold : .dim), (m.reachable ? "" : "?", .color(.red, bold: true))]
            case "ROLE": return [(m.role.rawValue, .color(m.role == .primary ? .green : .none, bold: m.role == .primary))]
            case "DATA":
                guard let d = m.dataState else { return [("-", .dim)] }
                return [(d.rawValue, .color(d == .inSync ? .green : .yellow))]
            case "POSTGRES":
                guard let pg else { return [("-", .dim)] }
                let bad = pg.error != nil || pg.state == "failed"
                return [(pg.state, bad ? .color(.red, bold: true) : m.selfReported ? .plain : .dim)]
            case "PORT": return [(pg?.port.map(String.init) ?? "-", .plain)]
            case "LSN": return [(pg?.lsn ?? "-", .plain)]
            case "REPLAY": return [(pg?.replayLSN ?? "-", .plain)]
            case "LAG":
                if m.role == .primary || m.role == .witness { return [("-", .dim)] }
                guard let pg, pg.lagBytes != nil || pg.lagSeconds != nil else { return [("?", .dim)] }
                let b = pg.lagBytes ?? 0, s = pg.lagSeconds ?? 0
                return [(Format.bytes(b) + " " + Format.seconds(s), .color(Self.lagColor(bytes: b, seconds: s)))]
            default:
                if let err = pg?.error { return [(err, .color(.red))] }
                guard let series = history[m.server], !series.isEmpty else { return [("", .plain)] }
                let peak = series.max() ?? 0
                let label = " max " + Format.bytes(peak)
                let w = max(1, min(sparkWidth - label.count, ClusterModel.historyLength))
                return [(sparkline(series, width: w), .color(.cyan)), (label, .dim)]
            }
        }
    }
}
