import Foundation
import KetchNode
import Logging

/// swift-log's stream handler prints whole seconds; failover steps take tens to hundreds of
/// milliseconds, so the node's log carries milliseconds (UTC) to let an operator time them.
/// Text is the same shape as swift-log's: `<time> <level> <label>: <metadata> [<source>] <message>`;
/// JSON is one object per line (`time`, `level`, `logger`, `source`, `message`, then the
/// metadata keys, `replica`, `epoch.id` and the like), for log shippers.
struct NodeLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let label: String
    let json: Bool
    let output: FileHandle

    init(label: String, json: Bool = false, output: FileHandle = .standardError) {
        self.label = label; self.json = json; self.output = output
    }

    /// Standard error, or `file` opened for appending (created 0640 when missing).
    static func output(file: String?) throws(NodeError) -> FileHandle {
        guard let file else { return .standardError }
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw NodeError("bad-log-file", "cannot open log file \(file): \(String(cString: strerror(errno))); check that its directory exists and is writable")
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        let text: String
        if json {
            var fields: [(String, String)] = [("time", Self.timestamp()), ("level", "\(event.level)"), ("logger", label),
                                              ("source", event.source), ("message", "\(event.message)")]
            for (key, value) in all.sorted(by: { $0.key < $1.key }) where !["time", "level", "logger", "source", "message"].contains(key) {
                fields.append((key, "\(value)"))
            }
            text = "{" + fields.map { "\(Self.quoted($0.0)):\(Self.quoted($0.1))" }.joined(separator: ",") + "}\n"
        } else {
            let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            text = "\(Self.timestamp()) \(event.level) \(label):\(meta) [\(event.source)] \(event.message)\n"
        }
        Self.lock.withLock { output.write(Data(text.utf8)) }
    }

    private static let lock = NSLock()

    /// A JSON string literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ts.tv_nsec / 1_000_000))
    }
}
