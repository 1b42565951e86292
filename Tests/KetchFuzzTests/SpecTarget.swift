import KetchFuzz
import KetchShared
@testable import ketchctl

/// The spec parser as `ketchctl create replica -f FILE` runs it: YAML → `ReplicaSpec` →
/// `validate()`. It lives here because `ReplicaSpecFile` is part of the ketchctl executable,
/// which only a test target can import.
enum SpecTarget {
    static let target = FuzzTarget(
        name: "spec", summary: "ketchctl create replica -f: ReplicaSpecFile.parse (Yams) → ReplicaSpec.validate",
        seeds: SpecSeeds.documents.map { Array($0.utf8) },
        generate: { seed in
            var m = YAMLMutator(seed: seed)
            return m.make()
        }
    ) {
        { input, tally in
            let text = String(decoding: input, as: UTF8.self)
            do throws(CtlError) {
                let specs = try ReplicaSpecFile.parse(text, source: "spec.yaml")
                tally.count("parsed")
                for spec in specs {
                    do throws(ErrorReply) { try spec.validate() } catch {
                        return FuzzFinding("spec-unvalidated", "parse returned a spec that validate() refuses: \(error.message)")
                    }
                }
            } catch {
                // Refusals of the YAML itself apart from those of its fields: only the latter
                // show the typed checks were reached.
                tally.count(error.message.contains("is not valid YAML") ? "bad-yaml" : error.code)
                if error.message.isEmpty || error.message.contains("\n") || error.message.utf8.count > 2048 {
                    return FuzzFinding("ctl-message", "\(error.code) message is not one short line: \(error.message.prefix(200))")
                }
                // The password may legitimately be echoed only when the document put it somewhere
                // else too; in the seeds' own password field it must never show.
                let pw = SpecSeeds.password
                let occurrences = text.components(separatedBy: pw).count - 1
                if occurrences == 1, text.split(separator: "\n").contains(where: { $0.contains(pw) && $0.contains("password") }),
                   error.message.contains(pw) {
                    return FuzzFinding("ctl-password", "an error message shows the password: \(error.message.prefix(200))")
                }
            }
            return nil
        }
    }
}
