import KetchConsole
import Synchronization

/// Messages from feed and request tasks, waiting for the key loop to take them. The loop owns
/// the model and the terminal; everything else only posts here.
final class Inbox: Sendable {
    private let queue = Mutex<[ConsoleMessage]>([])

    func post(_ message: ConsoleMessage) {
        queue.withLock { $0.append(message) }
    }

    func drain() -> [ConsoleMessage] {
        queue.withLock { q in
            defer { q.removeAll(keepingCapacity: true) }
            return q
        }
    }
}
