import Foundation
import KetchFuzz
import KetchShared
@testable import ketch_tui

/// The spec file reader of ketch-tui's create form: `SpecFile.load` (Yams' `YAMLDecoder`),
/// given the same mutated documents as ketchctl's parser. It reads a path, so each input goes
/// through one scratch file.
enum TUISpecTarget {
    static let target = FuzzTarget(
        name: "tui-spec", summary: "ketch-tui create form: SpecFile.load (YAMLDecoder) → ReplicaSpec",
        seeds: SpecSeeds.documents.map { Array($0.utf8) },
        generate: { seed in
            var m = YAMLMutator(seed: seed)
            return m.make()
        }
    ) {
        let path = NSTemporaryDirectory() + "ketch-fuzz-tui-spec-\(getpid()).yaml"
        return { input, tally in
            FileManager.default.createFile(atPath: path, contents: Data(input))
            switch SpecFile.load(path: path) {
            case .success: tally.count("loaded")
            case .failure(let error):
                tally.count(error.code)
                if error.message.isEmpty || error.message.contains("\n") {
                    return FuzzFinding("tui-message", "\(error.code) message is not one line: \(error.message.prefix(200))")
                }
            }
            return nil
        }
    }
}
