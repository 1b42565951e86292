import KetchShared
import KetchWire

/// Every ketchctl failure: one line on stderr (ArgumentParser prints `Error: <description>`)
/// and a non-zero exit.
struct CtlError: Error, CustomStringConvertible, Equatable {
    var code: String
    var message: String
    init(_ code: String, _ message: String) { self.code = code; self.message = message }
    init(_ error: WireError) { self.init(error.code.rawValue, error.message) }
    init(_ reply: ErrorReply) { self.init(reply.code, reply.message) }
    var description: String { "\(code): \(message)" }
}
