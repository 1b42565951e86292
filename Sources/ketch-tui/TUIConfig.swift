import Foundation
import KetchShared

/// A bad flag or setting: one line that says what was wrong and how to fix it.
struct TUIError: Error, CustomStringConvertible {
    var code: String
    var message: String
    var description: String { message }
}

/// Where the console connects and how it proves the cluster secret, from flags, the
/// environment and ketchctl's saved login, in that order.
struct TUIConfig {
    var members: [String]
    var endpoints: [String: Endpoint]
    var secretFile: String
    var ascii: Bool
    var color: Bool

    static let defaultSecretFile = "/etc/ketch/cluster.secret"
    static let defaultAPIPort = 7460

    static func resolve(members flag: String?, apiPort portFlag: Int?, secretFile secretFlag: String?, ascii: Bool, noColor: Bool,
                        environment env: [String: String]) throws(TUIError) -> TUIConfig {
        guard let list = flag ?? env["KETCH_MEMBER_LIST"], !list.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TUIError(code: "no-members", message: "no members given; pass --members server1,server2,... or set KETCH_MEMBER_LIST")
        }
        var port = defaultAPIPort
        if let p = portFlag {
            port = p
        } else if let s = env["KETCH_API_PORT"] {
            guard let p = Int(s) else { throw TUIError(code: "bad-port", message: "KETCH_API_PORT '\(s)' is not a number; use a TCP port like 7460") }
            port = p
        }
        guard (1...65535).contains(port) else {
            throw TUIError(code: "bad-port", message: "api port \(port) is out of range; use a TCP port from 1 to 65535 (default 7460)")
        }
        var members: [String] = [], endpoints: [String: Endpoint] = [:]
        for raw in list.split(separator: ",", omittingEmptySubsequences: false) {
            let item = raw.trimmingCharacters(in: .whitespaces)
            guard !item.isEmpty, !item.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw TUIError(code: "bad-members", message: "member list '\(list)' has an empty or blank entry; use names like server1,server2")
            }
            var host = item, memberPort = port
            // host:port for members on other api ports; a bare IPv6 address has several colons.
            if let colon = item.lastIndex(of: ":"), item.filter({ $0 == ":" }).count == 1 {
                host = String(item[..<colon])
                guard let p = Int(item[item.index(after: colon)...]), (1...65535).contains(p), !host.isEmpty else {
                    throw TUIError(code: "bad-members", message: "member '\(item)' is not host or host:port with a port from 1 to 65535")
                }
                memberPort = p
            }
            guard endpoints[item] == nil else {
                throw TUIError(code: "bad-members", message: "member '\(item)' is listed twice")
            }
            members.append(item)
            endpoints[item] = Endpoint(addr: host, port: memberPort)
        }
        let secret = secretFlag ?? env["KETCH_SECRET_FILE"] ?? savedLoginSecretFile(home: env["HOME"]) ?? defaultSecretFile
        let color = !noColor && (env["NO_COLOR"] ?? "").isEmpty
        return TUIConfig(members: members, endpoints: endpoints, secretFile: secret, ascii: ascii, color: color)
    }

    /// ketchctl's saved login (`~/.ketchctl.d/config`): the secret file named there, if any.
    /// Read as `key: value` or `key=value` lines or a JSON object, whichever it is.
    static func savedLoginSecretFile(home: String?) -> String? {
        guard let home, let text = try? String(contentsOfFile: home + "/.ketchctl.d/config", encoding: .utf8) else { return nil }
        let keys = ["secretFile", "secret-file", "secret_file", "secretfile"]
        if let data = text.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for k in keys { if let v = object[k] as? String, !v.isEmpty { return v } }
        }
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(maxSplits: 1, whereSeparator: { $0 == ":" || $0 == "=" })
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            var value = parts[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f { value = String(value.dropFirst().dropLast()) }
            if keys.contains(key), !value.isEmpty { return value }
        }
        return nil
    }
}
