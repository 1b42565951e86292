import KetchShared

extension ConsoleModel {
    /// How long a status line stays above the footer.
    public static let statusLifetime = Span.seconds(6)

    /// The console's only state transition: pure, with time handed in.
    public static func update(_ model: ConsoleModel, _ message: ConsoleMessage, now: ConsoleTime) -> (ConsoleModel, [ConsoleCommand]) {
        var m = model
        let commands = m.apply(message, now: now)
        return (m, commands)
    }

    mutating func apply(_ message: ConsoleMessage, now: ConsoleTime) -> [ConsoleCommand] {
        var commands: [ConsoleCommand] = []
        switch message {
        case .tick:
            commands += cluster.tick(at: now).map(Self.command)
            if let at = statusAt, now.monotonic - at >= Self.statusLifetime { status = nil; statusAt = nil }
        case .feed(let endpoint, let event):
            commands += cluster.receive(event, from: endpoint, at: now).map(Self.command)
        case .key(let key):
            cluster.note(at: now)
            commands += handle(key, now: now)
        case .controlProgress(let request, let text):
            cluster.note(at: now)
            progress(request, text)
        case .controlReply(let request, let outcome):
            cluster.note(at: now)
            finish(request, outcome, now: now)
        case .specLoaded(let path, let result):
            cluster.note(at: now)
            guard case .create(var form) = overlay else { break }
            switch result {
            case .loaded(let spec): form.load(spec); setStatus("loaded \(path); check the fields and press Enter", now)
            case .failed(let why): form.failure = why
            }
            overlay = .create(form)
        }
        followFailover(now: now)
        return commands
    }

    private static func command(_ action: ClusterModel.Action) -> ConsoleCommand {
        switch action { case .resubscribe(let endpoint): .resubscribe(endpoint: endpoint) }
    }

    private mutating func setStatus(_ text: String, _ now: ConsoleTime) {
        status = text
        statusAt = now.monotonic
    }

    private mutating func takeRequestID() -> Int {
        defer { nextRequest += 1 }
        return nextRequest
    }

    // MARK: keys

    private mutating func handle(_ key: ConsoleKey, now: ConsoleTime) -> [ConsoleCommand] {
        if key == .interrupt { quitting = true; return [.quit] }
        switch overlay {
        case .help:
            overlay = .none
            return []
        case .create(let form):
            return handleCreate(key, form, now: now)
        case .failover(let flow):
            return handleFailover(key, flow, now: now)
        case .delete(let flow):
            return handleDelete(key, flow, now: now)
        case .none:
            break
        }
        if editingFilter {
            switch key {
            case .enter: editingFilter = false
            case .escape: editingFilter = false; filter = ""
            case .backspace: if !filter.isEmpty { filter.removeLast() }
            case .character(let c): filter.append(c)
            default: break
            }
            return []
        }
        switch key {
        case .character("q"), .character("Q"):
            quitting = true
            return [.quit]
        case .character("?"), .character("h"):
            overlay = .help
        case .up, .character("k"): move(by: -1)
        case .down, .character("j"): move(by: 1)
        case .pageUp: move(by: -10)
        case .pageDown: move(by: 10)
        case .home, .character("g"): move(by: Int.min / 2)
        case .end, .character("G"): move(by: Int.max / 2)
        case .tab, .right, .character("l"):
            focus = Pane(rawValue: (focus.rawValue + 1) % Pane.allCases.count)!
        case .backTab, .left:
            focus = Pane(rawValue: (focus.rawValue + Pane.allCases.count - 1) % Pane.allCases.count)!
        case .enter:
            if case .overview = screen, focus == .databases, let db = selectedDatabase { screen = .detail(db.replica) }
        case .escape:
            if case .detail = screen { screen = .overview } else if !filter.isEmpty { filter = "" }
        case .character("/"):
            editingFilter = true
        case .character("c"):
            overlay = .create(CreateForm())
        case .character("f"):
            startFailover(now: now)
        case .character("d"):
            if let db = selectedDatabase {
                overlay = .delete(DeleteFlow(database: db.replica, name: db.name))
            } else {
                setStatus("no database selected: pick one in the databases pane first", now)
            }
        default:
            break
        }
        return []
    }

    private mutating func move(by delta: Int) {
        let count: Int
        switch focus {
        case .members: count = visibleMembers.count
        case .databases: count = visibleDatabases.count
        case .events: count = visibleEvents.count
        }
        let current = selectedIndex(focus)
        selection[focus] = max(0, min(count - 1, current.addingReportingOverflow(delta).overflow ? current : current + delta))
    }

    private mutating func startFailover(now: ConsoleTime) {
        guard let db = selectedDatabase else {
            setStatus("no database selected: pick one in the databases pane first", now)
            return
        }
        let targets = db.failoverTargets.map(\.name)
        guard !targets.isEmpty else {
            setStatus("\(db.name) has no in-sync standby to fail over to", now)
            return
        }
        overlay = .failover(FailoverFlow(database: db.replica, name: db.name,
                                         fromPrimary: db.primary.map { cluster.name(of: $0) },
                                         fromEpoch: db.epoch?.id, targets: targets + [nil]))
    }

    private mutating func handleFailover(_ key: ConsoleKey, _ flow: FailoverFlow, now: ConsoleTime) -> [ConsoleCommand] {
        var flow = flow
        switch flow.stage {
        case .pick:
            switch key {
            case .up, .character("k"): flow.choice = max(0, flow.choice - 1)
            case .down, .character("j"): flow.choice = min(flow.targets.count - 1, flow.choice + 1)
            case .enter: flow.stage = .confirm
            case .escape, .character("q"): overlay = .none; return []
            default: break
            }
        case .confirm:
            switch key {
            case .character("y"), .character("Y"), .enter:
                let id = takeRequestID()
                flow.stage = .running(request: id, since: now.monotonic)
                cluster.note("failover of \(flow.name) to \(flow.target ?? "a node-chosen member") requested", kind: .failover,
                             replica: flow.database, at: now)
                overlay = .failover(flow)
                return [.send(request: id, .failover(name: flow.name, to: flow.target))]
            case .character("n"), .character("N"), .escape:
                flow.stage = .pick
            default: break
            }
        case .running(let id, _):
            if key == .escape { background[id] = flow.name; overlay = .none; return [] }
        case .waitingForEpoch:
            if key == .escape { overlay = .none; return [] }
        case .done, .failed:
            overlay = .none
            return []
        }
        overlay = .failover(flow)
        return []
    }

    private mutating func handleDelete(_ key: ConsoleKey, _ flow: DeleteFlow, now: ConsoleTime) -> [ConsoleCommand] {
        var flow = flow
        switch flow.stage {
        case .confirm:
            switch key {
            case .character("y"), .character("Y"):
                let id = takeRequestID()
                flow.stage = .running(request: id)
                overlay = .delete(flow)
                cluster.note("delete of \(flow.name) requested", kind: .replica, replica: flow.database, at: now)
                return [.send(request: id, .deleteReplica(name: flow.name))]
            case .character("n"), .character("N"), .escape, .character("q"):
                overlay = .none
                return []
            default: break
            }
        case .running(let id):
            if key == .escape { background[id] = flow.name; overlay = .none; return [] }
        case .done, .failed:
            overlay = .none
            return []
        }
        overlay = .delete(flow)
        return []
    }

    private mutating func handleCreate(_ key: ConsoleKey, _ form: CreateForm, now: ConsoleTime) -> [ConsoleCommand] {
        var form = form
        let fields = CreateForm.Field.allCases
        if let pending = form.pendingRequest {
            if key == .escape { background[pending] = form[.name]; overlay = .none }
            return []
        }
        switch key {
        case .escape:
            overlay = .none
            return []
        case .tab, .down:
            form.focus = fields[(form.focus.rawValue + 1) % fields.count]
        case .backTab, .up:
            form.focus = fields[(form.focus.rawValue + fields.count - 1) % fields.count]
        case .backspace:
            if !form[form.focus].isEmpty { form[form.focus].removeLast() }
            form.errors[form.focus] = nil
        case .character(let c):
            if form[form.focus].count < 255 { form[form.focus].append(c) }
            form.errors[form.focus] = nil
        case .enter:
            let path = form[.specPath].trimmed
            if !path.isEmpty {
                form.failure = nil
                overlay = .create(form)
                return [.loadSpec(path: path)]
            }
            switch form.validate() {
            case .failure(let errors):
                form.errors = errors.fields
                form.failure = errors.general
                if let first = fields.first(where: { errors.fields[$0] != nil }) { form.focus = first }
            case .success(let spec):
                let id = takeRequestID()
                form.pendingRequest = id
                form.failure = nil
                form.errors = [:]
                cluster.note("create of \(spec.name) requested", kind: .replica, at: now)
                overlay = .create(form)
                return [.send(request: id, .createReplica(spec: spec))]
            }
        default:
            break
        }
        overlay = .create(form)
        return []
    }

    // MARK: replies

    private mutating func progress(_ request: Int, _ text: String) {
        if case .failover(var flow) = overlay, case .running(let id, _) = flow.stage, id == request {
            flow.progress.append(text)
            if flow.progress.count > 20 { flow.progress.removeFirst() }
            overlay = .failover(flow)
        }
    }

    private mutating func finish(_ request: Int, _ outcome: ControlOutcome, now: ConsoleTime) {
        let text: String
        switch outcome { case .ok(let t): text = t; case .failed(let t): text = t }
        if let name = background.removeValue(forKey: request) {
            let ok = if case .ok = outcome { true } else { false }
            cluster.note("\(name): \(ok ? "" : "failed: ")\(text)", kind: ok ? .replica : .error, at: now)
            return
        }
        switch overlay {
        case .failover(var flow):
            guard case .running(let id, _) = flow.stage, id == request else { return }
            switch outcome {
            case .ok(let t):
                flow.progress.append(t)
                flow.stage = .waitingForEpoch(since: now.monotonic)
            case .failed(let why):
                flow.stage = .failed(why)
                cluster.note("failover of \(flow.name) failed: \(why)", kind: .error, replica: flow.database, at: now)
            }
            overlay = .failover(flow)
        case .delete(var flow):
            guard case .running(let id) = flow.stage, id == request else { return }
            switch outcome {
            case .ok(let t):
                flow.stage = .done(t.isEmpty ? "\(flow.name) deleted; its data is kept on disk" : t)
            case .failed(let why):
                flow.stage = .failed(why)
                cluster.note("delete of \(flow.name) failed: \(why)", kind: .error, replica: flow.database, at: now)
            }
            overlay = .delete(flow)
        case .create(var form):
            guard form.pendingRequest == request else { return }
            form.pendingRequest = nil
            switch outcome {
            case .ok(let t):
                overlay = .none
                setStatus(t.isEmpty ? "\(form[.name]) created" : t, now)
            case .failed(let why):
                form.failure = why
                overlay = .create(form)
            }
        default:
            break
        }
    }

    /// Ends a failover when the feed shows the new epoch open with the chosen primary, or gives
    /// up with a clear reason after `FailoverFlow.epochTimeout`.
    private mutating func followFailover(now: ConsoleTime) {
        guard case .failover(var flow) = overlay, case .waitingForEpoch(let since) = flow.stage else { return }
        if let db = cluster.database(flow.database), let epoch = db.epoch, epoch.id != flow.fromEpoch, epoch.state == .open {
            let primary = db.primary.map { cluster.name(of: $0) }
            if flow.target == nil || primary == flow.target {
                let text = "\(flow.name): \(primary ?? "?") is primary in epoch \(epoch.id.short), open"
                flow.stage = .done(text)
                cluster.note(text, kind: .failover, replica: flow.database, at: now)
                overlay = .failover(flow)
                return
            }
        }
        if now.monotonic - since >= FailoverFlow.epochTimeout {
            let why = "the node accepted the failover but no new open epoch with \(flow.target ?? "a new primary") appeared within \(FailoverFlow.epochTimeout.milliseconds / 1000)s; check the event pane and `ketchctl get epoch`"
            flow.stage = .failed(why)
            cluster.note("failover of \(flow.name): \(why)", kind: .error, replica: flow.database, at: now)
            overlay = .failover(flow)
        }
    }
}

extension ClusterModel {
    /// Moves the model's clock without any other change.
    mutating func note(at time: ConsoleTime) { advance(to: time) }
}
