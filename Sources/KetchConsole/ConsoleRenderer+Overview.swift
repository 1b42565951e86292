import KetchShared

extension ConsoleRenderer {
    func drawOverview(top: Int, height: Int) {
        let members = model.visibleMembers, dbs = model.visibleDatabases
        let chrome = compact ? 1 : 3
        let membersWanted = max(members.count, 1) + chrome, dbsWanted = max(dbs.count, 1) + chrome
        // Events keep a few lines; members and databases share the rest, databases first.
        let eventsMin = min(chrome + 2, max(0, height - 2 * (chrome + 1)))
        let rest = height - eventsMin
        var mh: Int, dh: Int
        if membersWanted + dbsWanted <= rest {
            mh = membersWanted; dh = dbsWanted
        } else {
            mh = min(membersWanted, max(min(chrome + 1, rest / 2), rest / 3))
            dh = min(dbsWanted, rest - mh)
            mh = min(membersWanted, rest - dh)
        }
        let eh = height - mh - dh
        if mh > 0 { drawMembers(members, y: top, height: mh) }
        if dh > 0 { drawDatabases(dbs, y: top + mh, height: dh) }
        if eh > 0 { drawEvents(model.visibleEvents, y: top + mh + dh, height: eh, focused: model.focus == .events) }
    }

    func drawMembers(_ members: [MemberView], y: Int, height: Int) {
        let focused = model.focus == .members
        let live = members.filter { if case .live = $0.link { true } else { false } }.count
        let area = frame("Members \(members.count) (\(live) live)", x: 0, y: y, width: grid.width, height: height, focused: focused)
        let columns = [
            Column(title: "NAME", width: 10, priority: 0),
            Column(title: "ADDRESS", width: 15, priority: 4),
            Column(title: "HEALTH", width: 11, priority: 2),
            Column(title: "FEED", width: 16, priority: 1),
            Column(title: "DATABASES", width: 10, priority: 3, flex: true),
        ]
        let sel = model.selectedIndex(.members)
        table(columns, rows: members.count, area: area, selected: sel, focused: focused, header: !compact) { i, col in
            let m = members[i]
            switch col {
            case "NAME": return [(m.name, .bold)]
            case "ADDRESS": return [(m.address, .plain)]
            case "HEALTH":
                guard let h = m.health else { return [("unknown", .dim)] }
                let votes = m.votes > 1 ? " \(m.agreeing)/\(m.votes)" : ""
                return [(h.rawValue, .color(Self.healthColor(h), bold: h != .alive)), (votes, .dim)]
            case "FEED":
                let t = linkText(m.link, lastHeard: m.lastHeard)
                return [t]
            default:
                if m.holdings.isEmpty {
                    if case .unreachable(_, let why?) = m.link { return [(why, .dim)] }
                    return [("-", .dim)]
                }
                var spans: Spans = []
                for h in m.holdings {
                    spans.append((h.database + ":", .plain))
                    spans.append((String(Format.role(h.role)), .color(h.role == .primary ? .green : .none, bold: h.role == .primary)))
                    spans.append((" ", .plain))
                }
                return spans
            }
        }
    }

    func drawDatabases(_ dbs: [DatabaseView], y: Int, height: Int) {
        let focused = model.focus == .databases
        let area = frame("Databases \(dbs.count)", x: 0, y: y, width: grid.width, height: height, focused: focused)
        let wide = area.width >= 110
        let columns = [
            Column(title: "NAME", width: wide ? 14 : 9, priority: 0),
            Column(title: "PRIMARY", width: wide ? 10 : 8, priority: 1),
            Column(title: "EPOCH", width: wide ? 13 : 10, priority: 4),
            Column(title: "STATE", width: 6, priority: 2),
            Column(title: "LEASE", width: wide ? 26 : 12, priority: 3),
            Column(title: "LAG", width: wide ? 11 : 10, priority: 5),
            Column(title: "QUORUM GROUP", width: 12, priority: 6, flex: true),
        ]
        let cols = Self.fitColumns(columns, width: area.width - 2)
        let groupWidth = cols.first { $0.flex }?.width ?? 0
        let allNames = Array(Set(dbs.flatMap { $0.members.map(\.name) })).sorted()
        let short = Format.shortNames(allNames)
        let now = model.now.monotonic
        if dbs.isEmpty {
            grid.put("no databases yet: press c to create one", x: area.x + 2, y: area.y + (compact ? 0 : 1), style: .dim)
        }
        let sel = model.selectedIndex(.databases)
        table(columns, rows: dbs.count, area: area, selected: sel, focused: focused, header: !compact) { i, col in
            let db = dbs[i]
            switch col {
            case "NAME":
                var spans: Spans = [(db.name, db.stale ? .dim : .bold)]
                if !db.disagreeing.isEmpty { spans.append(("!", .color(.red, bold: true))) }
                return spans
            case "PRIMARY":
                guard let p = db.primary else {
                    // While an epoch is new the group already names who will serve.
                    if let next = db.members.first(where: { $0.role == .primary }) { return [(next.name, .dim)] }
                    return [("none", .color(.red, bold: true))]
                }
                return [(model.cluster.name(of: p), .plain)]
            case "EPOCH": return [(db.epoch?.id.short ?? "-", .dim)]
            case "STATE":
                return [(db.epoch?.state.rawValue ?? "none", .color(Self.epochColor(db.epoch?.state), bold: db.epoch?.state != .open))]
            case "LEASE":
                guard let lease = db.lease, let holder = lease.holder, let left = db.leaseRemainingMs(at: now), left > 0 else {
                    return [("no holder", .color(.red, bold: true))]
                }
                let frac = lease.durationMs > 0 ? Double(left) / Double(lease.durationMs) : 0
                let color: ConsoleColor = frac > 0.5 ? .green : frac > 0.2 ? .yellow : .red
                let label = Format.ms(left)
                var spans: Spans = []
                if wide || holder != db.primary { spans.append((model.cluster.name(of: holder) + " ", holder == db.primary ? .plain : .color(.yellow))) }
                let barWidth = max(2, (wide ? 26 : 12) - label.count - 1 - (spans.first?.0.count ?? 0))
                spans.append((bar(frac, width: min(barWidth, 10)), .color(color)))
                spans.append((" " + label, .plain))
                return spans
            case "LAG":
                guard let lag = db.worstLag else { return [("-", .dim)] }
                return [(Format.bytes(lag.bytes) + " " + Format.seconds(lag.seconds), .color(Self.lagColor(bytes: lag.bytes, seconds: lag.seconds)))]
            default:
                return groupSpans(db, width: groupWidth, short: short)
            }
        }
    }

    /// "server1:P✓ server2:S✓ server3:A↻" or, when narrow, "s1P✓ s2S✓ s3A↻".
    func groupSpans(_ db: DatabaseView, width: Int, short: [String: String]) -> Spans {
        let inSync: Character = g == .unicode ? "✓" : "+"
        let catchUp: Character = g == .unicode ? "↻" : "~"
        let full = db.members.reduce(0) { $0 + $1.name.count + 4 } <= width
        var spans: Spans = []
        for m in db.members {
            let name = full ? m.name : (short[m.name] ?? m.name)
            let state: String = !m.reachable ? "?" : m.dataState == .inSync ? String(inSync) : m.dataState == .catchUp ? String(catchUp) : " "
            let color: ConsoleColor = !m.reachable ? .red : m.dataState == .catchUp ? .yellow : m.role == .primary ? .green : .none
            spans.append((full ? name + ":" : name, m.reachable ? .plain : .dim))
            spans.append((String(Format.role(m.role)) + state, .color(color, bold: m.role == .primary)))
            spans.append((" ", .plain))
        }
        return spans
    }

    func drawEvents(_ events: [EventEntry], y: Int, height: Int, focused: Bool) {
        let area = frame("Events \(events.count)", x: 0, y: y, width: grid.width, height: height, focused: focused)
        let columns = [
            Column(title: "TIME", width: 8, priority: 0),
            Column(title: "KIND", width: 10, priority: 2),
            Column(title: "WHAT", width: 20, priority: 1, flex: true),
            Column(title: "FROM", width: 9, priority: 3),
        ]
        let sel = focused ? model.selectedIndex(.events) : nil
        let dbNames = Dictionary(model.cluster.databases.map { ($0.replica, $0.name) }, uniquingKeysWith: { a, _ in a })
        table(columns, rows: events.count, area: area, selected: sel, focused: focused, header: false) { i, col in
            let e = events[i]
            switch col {
            case "TIME": return [(Format.clock(e.atUnixMs), .dim)]
            case "KIND": return [(e.kind.rawValue, .color(Self.eventColor(e.kind)))]
            case "FROM": return [(e.source, .dim)]
            default:
                var spans: Spans = []
                if let r = e.replica, let name = dbNames[r], !e.text.contains(name) { spans.append((name + " ", .bold)) }
                spans.append((e.text, e.kind == .error ? .color(.red) : .plain))
                return spans
            }
        }
    }
}
