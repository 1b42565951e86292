import KetchShared

/// A key press, decoded by the painter from whatever the terminal sent.
public enum ConsoleKey: Hashable, Sendable {
    case up, down, left, right, pageUp, pageDown, home, end
    case tab, backTab, enter, escape, backspace
    case character(Character)
    /// Ctrl-C arrives as a key when the terminal is in raw mode.
    case interrupt
}

/// Everything that can change the console's state.
public enum ConsoleMessage: Hashable, Sendable {
    case tick
    case key(ConsoleKey)
    case feed(endpoint: String, event: FeedEvent)
    /// A long control request reported progress (failover steps).
    case controlProgress(request: Int, message: String)
    case controlReply(request: Int, reply: ControlOutcome)
    /// The result of reading a replica spec file for the create form.
    case specLoaded(path: String, result: SpecLoadResult)
}

/// A control request's final answer, or why it could not be asked.
public enum ControlOutcome: Hashable, Sendable {
    case ok(String)
    case failed(String)
}

public enum SpecLoadResult: Hashable, Sendable {
    case loaded(ReplicaSpec)
    case failed(String)
}

/// The side effects `update` asks for; the executable carries them out and reports back with
/// messages.
public enum ConsoleCommand: Hashable, Sendable {
    case send(request: Int, ControlRequest)
    case resubscribe(endpoint: String)
    case loadSpec(path: String)
    case quit
}
