import Foundation
import KetchShared
import Yams

/// Reads a replica spec file in the seed's shape (`data: - attributes: {...} type: replica`) or
/// as bare attributes, for the create form.
enum SpecFile {
    private struct Document: Decodable {
        struct Item: Decodable {
            var attributes: ReplicaSpec
            var type: String?
        }
        var data: [Item]
    }

    static func load(path: String) -> Result<ReplicaSpec, TUIError> {
        let expanded = path.hasPrefix("~/") ? NSHomeDirectory() + path.dropFirst(1) : path
        if let size = (try? FileManager.default.attributesOfItem(atPath: expanded))?[.size] as? Int,
           let tooLarge = ReplicaSpec.specFileTooLarge(size, source: path) {
            return .failure(TUIError(code: "spec-too-large", message: tooLarge))
        }
        // Read at most one byte past the limit: a pipe or a symlink has no size to check first.
        guard let handle = FileHandle(forReadingAtPath: expanded), let data = try? handle.read(upToCount: ReplicaSpec.maxSpecFileBytes + 1) ?? Data(),
              let text = String(data: data, encoding: .utf8) else {
            return .failure(TUIError(code: "spec-unreadable", message: "cannot read \(path); give the path of a readable YAML spec file"))
        }
        if let tooLarge = ReplicaSpec.specFileTooLarge(data.count, source: path, readSoFar: true) {
            return .failure(TUIError(code: "spec-too-large", message: tooLarge))
        }
        if let root = try? Yams.compose(yaml: text), let problem = numberProblem(root) {
            return .failure(TUIError(code: "spec-invalid", message: "\(path) \(problem)"))
        }
        let decoder = YAMLDecoder()
        do {
            if let doc = try? decoder.decode(Document.self, from: text) {
                guard let item = doc.data.first else {
                    return .failure(TUIError(code: "spec-empty", message: "\(path) has an empty data list; it needs one replica"))
                }
                if let type = item.type, type != "replica" {
                    return .failure(TUIError(code: "spec-type", message: "\(path) describes a '\(ReplicaSpec.shown(type))', not a replica"))
                }
                return .success(item.attributes)
            }
            return .success(try decoder.decode(ReplicaSpec.self, from: text))
        } catch {
            return .failure(TUIError(code: "spec-invalid", message: "\(path) is not a replica spec (\(Self.describe(error))); see examples/samplereplica.yaml"))
        }
    }

    /// Yams computes YAML 1.1 sexagesimal integers (`1:2:3`) with trapping arithmetic, so a long
    /// one would crash the console instead of being refused: find them before decoding. Walks
    /// at most 10,000 values, since aliases can make a small file an enormous tree.
    ///
    /// Not by the resolver's integer tag: decoding an integer field converts any
    /// plain scalar whose `:`-separated parts each read as an integer, and `Int("-0")` does,
    /// so `1:2:3:4:5:6:7:8:9:10:-0`, tagged as text, still crashed (tui-spec fuzzing, seed 8201,
    /// input 1,213,144). Quoted text with `:` is left alone.
    static func numberProblem(_ root: Yams.Node) -> String? {
        var stack = [root]
        var visited = 0
        while let node = stack.popLast() {
            visited += 1
            if visited > 10_000 { return "has more than 10000 values (repeated aliases?); a replica spec has about ten" }
            switch node {
            case .scalar(let s):
                if s.style == .plain && s.string.contains(":") && looksSexagesimal(s.string) {
                    return "has a number written like 1:2:3; write whole numbers in decimal (like 5432), and quote text that contains ':'"
                }
            case .mapping(let m): for (k, v) in m { stack.append(k); stack.append(v) }
            case .sequence(let q): stack.append(contentsOf: q)
            case .alias: break
            }
        }
        return nil
    }

    /// What Yams' integer conversion would take as base 60: an optional sign, then parts that
    /// each read as a decimal integer.
    static func looksSexagesimal(_ text: String) -> Bool {
        var digits = Substring(text.replacingOccurrences(of: "_", with: ""))
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        return digits.split(separator: ":", omittingEmptySubsequences: false).allSatisfy { Int($0, radix: 10) != nil }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "bad value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let c): c.debugDescription
        default: "\(error)".split(separator: "\n").first.map(String.init) ?? "unreadable"
        }
    }
}
