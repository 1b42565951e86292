import Foundation
import KetchShared

/// `ketch-fuzz`'s command line, in the library so that a test binary holding more targets
/// (the spec parser lives in the ketchctl executable) can run the same command.
public enum FuzzCommand {
    public static let usage = """
        usage: ketch-fuzz --target NAME[,NAME...]|all [--inputs N] [--seed S] [--skip K]
                          [--time-limit-ms MS] [--max-seconds T] [--crash-dir DIR] [--profile]
               ketch-fuzz --target NAME --replay FILE
               ketch-fuzz --target node --node HOST:PORT --secret-file PATH [--inputs N] [--seed S]
               ketch-fuzz --list
        Runs N generated inputs (default 10000) through each target and prints one summary line
        per target. Exit status: 0 all checks held, 1 a check failed, 2 bad usage, 3 a hang;
        a crash ends the process by its signal after writing the input to the crash dir.
        --profile adds, per input size class, inputs/seconds checking/seconds generating.
        """

    struct Arguments {
        var targets: [String] = []
        var options = FuzzRunner.Options()
        var replay: String?
        var node: String?
        var secretFile: String?
        var list = false
    }

    struct UsageError: Error { var text: String }

    static func parse(_ args: [String]) -> Result<Arguments, UsageError> {
        var a = Arguments()
        var i = 0
        func value(_ flag: String) -> Result<String, UsageError> {
            i += 1
            guard i < args.count else { return .failure(UsageError(text: "\(flag) needs a value")) }
            return .success(args[i])
        }
        func number<T: FixedWidthInteger>(_ flag: String, _ type: T.Type) -> Result<T, UsageError> {
            value(flag).flatMap { s in
                T(s.replacingOccurrences(of: "_", with: "")).map { .success($0) } ?? .failure(UsageError(text: "\(flag) takes a whole number, not '\(s)'"))
            }
        }
        while i < args.count {
            let flag = args[i]
            let problem: String?
            switch flag {
            case "--target":
                switch value(flag) { case .success(let v): a.targets = v.split(separator: ",").map(String.init); problem = nil; case .failure(let e): problem = e.text }
            case "--inputs":
                switch number(flag, Int.self) { case .success(let v) where v >= 0: a.options.inputs = v; problem = nil; case .success: problem = "--inputs must be >= 0"; case .failure(let e): problem = e.text }
            case "--seed":
                switch number(flag, UInt64.self) { case .success(let v): a.options.seed = v; problem = nil; case .failure(let e): problem = e.text }
            case "--skip":
                switch number(flag, Int.self) { case .success(let v) where v >= 0: a.options.skip = v; problem = nil; case .success: problem = "--skip must be >= 0"; case .failure(let e): problem = e.text }
            case "--time-limit-ms":
                switch number(flag, Int.self) { case .success(let v) where v > 0: a.options.timeLimitMs = v; problem = nil; case .success: problem = "--time-limit-ms must be > 0"; case .failure(let e): problem = e.text }
            case "--max-seconds":
                switch value(flag) {
                case .success(let v):
                    if let d = Double(v), d >= 0 { a.options.maxSeconds = d; problem = nil } else { problem = "--max-seconds takes a number of seconds, not '\(v)'" }
                case .failure(let e): problem = e.text
                }
            case "--crash-dir":
                switch value(flag) { case .success(let v): a.options.crashDirectory = v; problem = nil; case .failure(let e): problem = e.text }
            case "--replay":
                switch value(flag) { case .success(let v): a.replay = v; problem = nil; case .failure(let e): problem = e.text }
            case "--node":
                switch value(flag) { case .success(let v): a.node = v; problem = nil; case .failure(let e): problem = e.text }
            case "--secret-file":
                switch value(flag) { case .success(let v): a.secretFile = v; problem = nil; case .failure(let e): problem = e.text }
            case "--list":
                a.list = true; problem = nil
            case "--profile":
                a.options.profile = true; problem = nil
            case "-h", "--help":
                return .failure(UsageError(text: ""))
            default:
                problem = "unknown option '\(flag)'"
            }
            if let problem { return .failure(UsageError(text: problem)) }
            i += 1
        }
        if !a.list && a.targets.isEmpty { return .failure(UsageError(text: "say which target to run with --target (see --list)")) }
        return .success(a)
    }

    /// Runs the command; returns the exit status.
    public static func run(_ args: [String], extraTargets: [FuzzTarget]) async -> Int32 {
        let arguments: Arguments
        switch parse(args) {
        case .success(let a): arguments = a
        case .failure(let usageError):
            let problem = usageError.text
            if problem.isEmpty { print(usage); return 0 }
            FileHandle.standardError.write(Data("ketch-fuzz: \(problem)\n\(usage)\n".utf8))
            return 2
        }
        let available = WireTargets.all + extraTargets
        if arguments.list {
            for t in available { print("\(t.name)\t\(t.summary)") }
            print("node\ta running ketch-node's api port: bad lines must each get one error line, and the node must stay up")
            return 0
        }
        if arguments.targets == ["node"] {
            guard let node = arguments.node, let secretFile = arguments.secretFile else {
                FileHandle.standardError.write(Data("ketch-fuzz: the node target needs --node HOST:PORT and --secret-file PATH\n".utf8))
                return 2
            }
            return await NodeProbe.run(node: node, secretFile: secretFile, options: arguments.options)
        }
        let names = arguments.targets == ["all"] ? available.map(\.name) : arguments.targets
        var chosen: [FuzzTarget] = []
        for name in names {
            guard let t = available.first(where: { $0.name == name }) else {
                FileHandle.standardError.write(Data("ketch-fuzz: unknown target '\(name)'; accepted: \((available.map(\.name) + ["node", "all"]).joined(separator: ", "))\n".utf8))
                return 2
            }
            chosen.append(t)
        }
        try? FileManager.default.createDirectory(atPath: arguments.options.crashDirectory, withIntermediateDirectories: true)
        if let replay = arguments.replay {
            guard let data = FileManager.default.contents(atPath: replay) else {
                FileHandle.standardError.write(Data("ketch-fuzz: cannot read \(replay); give the path of an input file\n".utf8))
                return 2
            }
            var status: Int32 = 0
            for t in chosen {
                var tally = FuzzTally()
                if let f = t.makeCheck()(Array(data), &tally) {
                    print("replay target=\(t.name) finding: \(f)")
                    status = 1
                } else {
                    print("replay target=\(t.name) ok \(tally.summary)")
                }
            }
            return status
        }
        var status: Int32 = 0
        for t in chosen {
            let report = FuzzRunner.run(t, options: arguments.options) { ran, seconds in
                FileHandle.standardError.write(Data("ketch-fuzz: \(t.name): \(ran) inputs in \(Int(seconds)) s\n".utf8))
            }
            print(report.summary)
            if !report.findings.isEmpty { status = 1 }
        }
        return status
    }
}
