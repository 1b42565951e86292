import Foundation
import KetchFuzz
import KetchShared
import Testing
@testable import ketchctl

/// Short fuzz passes of every target, plus checks that the fuzzer itself is sound: seeds still
/// decode, inputs replay from their seed, and mutated inputs reach past the JSON parser.
///
/// Longer runs: `KETCH_FUZZ_INPUTS=N swift test --filter KetchFuzzTests` (or `scripts/fuzz`);
/// `KETCH_FUZZ_SEED` and `KETCH_FUZZ_SKIP` pick the slice of inputs.
/// Serialized: the runner's crash guard and watchdog are process-wide.
@Suite(.serialized) struct FuzzTargetTests {
    static let inputs = ProcessInfo.processInfo.environment["KETCH_FUZZ_INPUTS"].flatMap { Int($0) } ?? 400

    static var targets: [FuzzTarget] { WireTargets.all + [SpecTarget.target, TUISpecTarget.target] }

    @Test func everySeedIsValidOnItsPort() throws {
        for line in WireSeeds.envelopes { #expect(throws: Never.self) { _ = try WireCodec.decode(Array(line.utf8), port: .member) } }
        for line in WireSeeds.requests + WireSeeds.replies + WireSeeds.feed {
            #expect(throws: Never.self) { _ = try WireCodec.decode(Array(line.utf8), port: .api) }
        }
        for line in WireSeeds.handshake {
            for port in WirePort.allCases { #expect(throws: Never.self) { _ = try WireCodec.decode(Array(line.utf8), port: port) } }
        }
        for doc in SpecSeeds.documents {
            let specs = try ReplicaSpecFile.parse(doc, source: "seed")
            #expect(!specs.isEmpty && specs.allSatisfy { $0.dbConfig.password == SpecSeeds.password })
        }
    }

    @Test(arguments: FuzzTargetTests.targets.map(\.name))
    func shortPassFindsNothing(target name: String) {
        // KETCH_FUZZ_ONLY=spec,tui-spec narrows a long run to some targets.
        if let only = ProcessInfo.processInfo.environment["KETCH_FUZZ_ONLY"], !only.split(separator: ",").contains(Substring(name)) { return }
        let target = Self.targets.first { $0.name == name }!
        var options = FuzzRunner.Options()
        options.inputs = Self.inputs
        options.seed = ProcessInfo.processInfo.environment["KETCH_FUZZ_SEED"].flatMap { UInt64($0) } ?? 20_261_127
        // KETCH_FUZZ_SKIP=K starts at input K, so one long run of a seed can be cut into slices
        // (the spec targets run here, in a debug build, at about 900 and 200 inputs/s).
        options.skip = ProcessInfo.processInfo.environment["KETCH_FUZZ_SKIP"].flatMap { Int($0) } ?? 0
        options.crashDirectory = NSTemporaryDirectory()
        let report = FuzzRunner.run(target, options: options)
        print(report.summary)
        #expect(report.inputs == Self.inputs)
        #expect(report.findings.isEmpty, "\(report.findings.map { "#\($0.index): \($0.finding)" })")
        // The mutator must get a good share of inputs past the JSON parser, or the typed
        // decoders behind it are not being fuzzed at all.
        let counts = report.tally.counts
        // For `spec` a field refused after the YAML parsed counts too: at 20,000 inputs only
        // 4.4% parsed whole, and the share that reaches the field checks is what matters.
        let refusedFields = name == "spec" ? (counts["bad-spec"] ?? 0) : 0
        let accepted = (counts["decoded"] ?? 0) + (counts["parsed"] ?? 0) + (counts["frames"] ?? 0) + (counts["loaded"] ?? 0) + refusedFields
        #expect(accepted * 20 >= Self.inputs, "\(report.summary)")
        if !["framer", "spec", "tui-spec"].contains(name) {
            #expect((counts["bad-message"] ?? 0) > 0, "no input reached the typed decoders: \(report.summary)")
        }
    }

    @Test func anInputReplaysFromItsSeedAndIndexAlone() {
        for target in Self.targets {
            let a = FuzzRunner.input(for: target, seed: 7, index: 12_345)
            let b = FuzzRunner.input(for: target, seed: 7, index: 12_345)
            let c = FuzzRunner.input(for: target, seed: 7, index: 12_346)
            #expect(a == b)
            #expect(a != c)
        }
    }

    /// The checks must be able to fail: an error message with a line break, an empty one, or
    /// one that echoes a huge line is reported; a good one is not.
    @Test func errorChecksHaveTeeth() {
        #expect(WireTargets.checkError(WireError(.badJSON, "the line is not a JSON object")) == nil)
        #expect(WireTargets.checkError(WireError(.badJSON, "two\nlines"))?.check == "error-one-line")
        #expect(WireTargets.checkError(WireError(.badJSON, ""))?.check == "error-message")
        #expect(WireTargets.checkError(WireError(.badJSON, String(repeating: "x", count: 5000)))?.check == "error-length")
        var tally = FuzzTally()
        let spec = SpecTarget.target.makeCheck()
        let badName = Array(SpecSeeds.documents[0].replacingOccurrences(of: "name: mydb1", with: "name: Bad").utf8)
        #expect(spec(badName, &tally) == nil)
        #expect(tally.counts["bad-spec"] == 1)
    }

    /// Inputs that once broke something, kept so they are checked on every run.
    @Test func savedCorpusStillPasses() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        for file in files.sorted() where file.hasSuffix(".bin") {
            guard let target = Self.targets.filter({ file.hasPrefix($0.name + "-") }).max(by: { $0.name.count < $1.name.count }) else {
                Issue.record("corpus file \(file) names no target (expected TARGET-description.bin)")
                continue
            }
            let data = try Data(contentsOf: dir.appendingPathComponent(file))
            var tally = FuzzTally()
            let finding = target.makeCheck()(Array(data), &tally)
            #expect(finding == nil, "\(file): \(String(describing: finding))")
        }
    }
}
