import Foundation
import KetchShared
import Yams

/// Reads `ketchctl create replica -f FILE` documents in the seed's shape:
///
/// ```yaml
/// data:
/// - attributes:
///     name: mydb1
///     quorumGroupSize: 3
///     dbConfig: {username: myuser, password: mypassword, port: 5432, closedPort: 5433}
///   type: replica
/// ```
/// Strictly: an unknown field, a wrong type or a missing field is an error naming the field's
/// path and what is accepted, and nothing is sent. Values of `password` never appear in errors.
enum ReplicaSpecFile {
    static func parse(_ text: String, source: String) throws(CtlError) -> [ReplicaSpec] {
        if let tooLarge = ReplicaSpec.specFileTooLarge(text.utf8.count, source: source) { throw CtlError("bad-spec", tooLarge) }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw CtlError("bad-spec", "\(source) is not valid YAML: \(yamlProblem(error))")
        }
        guard let root else {
            throw CtlError("bad-spec", "\(source) is empty; expected a document with data: - attributes: {...} type: replica")
        }
        let top = try mapping(root, path: "(top level)", source: source, accepted: ["data"], required: ["data"])
        guard case .sequence(let items) = top["data"]!, !items.isEmpty else {
            throw CtlError("bad-spec", "\(source): data must be a non-empty list of resources (- attributes: ... type: replica)")
        }
        var specs: [ReplicaSpec] = []
        for (i, item) in items.enumerated() {
            let path = "data[\(i)]"
            let fields = try mapping(item, path: path, source: source, accepted: ["attributes", "type"], required: ["attributes", "type"])
            let type = try string(fields["type"]!, path: path + ".type", source: source)
            guard type == "replica" else {
                throw CtlError("bad-spec", "\(source): \(path).type is '\(ReplicaSpec.shown(type))'; only 'replica' can be created")
            }
            specs.append(try spec(fields["attributes"]!, path: path + ".attributes", source: source))
        }
        return specs
    }

    private static func spec(_ node: Node, path: String, source: String) throws(CtlError) -> ReplicaSpec {
        let a = try mapping(node, path: path, source: source,
                            accepted: ["name", "quorumGroupSize", "dbConfig", "asyncMembers", "homeServer"],
                            required: ["name", "quorumGroupSize", "dbConfig"])
        let db = try mapping(a["dbConfig"]!, path: path + ".dbConfig", source: source,
                             accepted: ["username", "password", "port", "closedPort"],
                             required: ["username", "password", "port", "closedPort"], hidesKeys: true)
        let spec = ReplicaSpec(
            name: try string(a["name"]!, path: path + ".name", source: source),
            quorumGroupSize: try int(a["quorumGroupSize"]!, path: path + ".quorumGroupSize", source: source),
            dbConfig: .init(
                username: try string(db["username"]!, path: path + ".dbConfig.username", source: source),
                password: try string(db["password"]!, path: path + ".dbConfig.password", source: source, secret: true),
                port: try int(db["port"]!, path: path + ".dbConfig.port", source: source),
                closedPort: try int(db["closedPort"]!, path: path + ".dbConfig.closedPort", source: source)),
            asyncMembers: try a["asyncMembers"].map { n throws(CtlError) in try int(n, path: path + ".asyncMembers", source: source) },
            homeServer: try a["homeServer"].map { n throws(CtlError) in try string(n, path: path + ".homeServer", source: source) })
        do {
            try spec.validate()
        } catch {
            throw CtlError("bad-spec", "\(source): \(path): \(error.message)")
        }
        return spec
    }

    /// `hidesKeys`: an unknown key is not echoed. In `dbConfig` it may be the password itself: a
    /// missing space, as in `{username: app,!password: "s3cret"}`, makes the password a key with
    /// a tag (spec fuzzing, seed 8201, input 144,544), and the error quoted it.
    private static func mapping(_ node: Node, path: String, source: String, accepted: [String], required: [String],
                                hidesKeys: Bool = false) throws(CtlError) -> [String: Node] {
        guard case .mapping(let m) = node else {
            throw CtlError("bad-spec", "\(source): \(path) must be a mapping with fields \(accepted.joined(separator: ", "))")
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard case .scalar(let key) = k else {
                throw CtlError("bad-spec", "\(source): \(path) has a non-text key; accepted fields: \(accepted.joined(separator: ", "))")
            }
            let name = key.string
            // Keys are the user's text: escaped, so the error stays on one line.
            let full = ReplicaSpec.shown(path == "(top level)" ? name : path + "." + name)
            guard accepted.contains(name) else {
                if hidesKeys {
                    throw CtlError("bad-spec", "\(source): unknown field in \(path) (not shown: it may be the password); accepted here: \(accepted.joined(separator: ", "))")
                }
                throw CtlError("bad-spec", "\(source): unknown field \(full); accepted here: \(accepted.joined(separator: ", "))")
            }
            out[name] = v
        }
        for name in required where out[name] == nil {
            let full = path == "(top level)" ? name : path + "." + name
            throw CtlError("bad-spec", "\(source): missing field \(full)")
        }
        return out
    }

    private static func string(_ node: Node, path: String, source: String, secret: Bool = false) throws(CtlError) -> String {
        guard case .scalar(let s) = node, node.null == nil || s.style != .plain else {
            throw CtlError("bad-spec", "\(source): \(path) must be text\(secret ? "" : ", not a list, mapping or null")")
        }
        return s.string
    }

    private static func int(_ node: Node, path: String, source: String) throws(CtlError) -> Int {
        // No `:` — Yams computes YAML 1.1 sexagesimal integers (`1:2:3`) with trapping arithmetic,
        // so a long one would crash ketchctl instead of being refused.
        guard case .scalar(let s) = node, s.style == .plain, !s.string.contains(":"), node.tag == Tag(.int), let value = node.int else {
            let shown: String
            if case .scalar(let s) = node { shown = " (got '\(ReplicaSpec.shown(String(s.string.prefix(40))))')" } else { shown = "" }
            throw CtlError("bad-spec", "\(source): \(path) must be a whole number\(shown)")
        }
        return value
    }

    /// The parser's complaint and position, without echoing the document (it holds a password).
    private static func yamlProblem(_ error: any Error) -> String {
        if let e = error as? YamlError {
            switch e {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                return "\(problem) at line \(mark.line), column \(mark.column)"
            case .duplicatedKeysInMapping(let duplicates, _):
                let shown = duplicates.prefix(5).map(ReplicaSpec.shown)
                return "duplicate field(s) \(shown.joined(separator: ", "))\(duplicates.count > 5 ? " and \(duplicates.count - 5) more" : "")"
            case .reader(let problem, _, _, _):
                return problem
            default:
                break
            }
        }
        return "it could not be parsed"
    }
}
