import Foundation
import KetchFuzz
import KetchShared

#if KETCH_LIBFUZZER
/// libFuzzer build (`scripts/fuzz --libfuzzer`): libFuzzer owns `main`, calls this once per
/// input, and keeps the inputs that reach new code. The target comes from `KETCH_FUZZ_TARGET`.
nonisolated(unsafe) private var libFuzzerCheck: ((_ input: [UInt8], _ tally: inout FuzzTally) -> FuzzFinding?)?
nonisolated(unsafe) private var libFuzzerTally = FuzzTally()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if libFuzzerCheck == nil {
        let name = ProcessInfo.processInfo.environment["KETCH_FUZZ_TARGET"] ?? "request"
        guard let target = WireTargets.all.first(where: { $0.name == name }) else {
            fatalError("KETCH_FUZZ_TARGET '\(name)' is not a target; use one of \(WireTargets.all.map(\.name).joined(separator: ", "))")
        }
        libFuzzerCheck = target.makeCheck()
    }
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let finding = libFuzzerCheck!(input, &libFuzzerTally) {
        // A broken property is a bug like a crash: stop here so libFuzzer saves the input.
        fatalError("ketch-fuzz finding: \(finding)")
    }
    return 0
}
#else
@main
enum KetchFuzzMain {
    static func main() async {
        exit(await FuzzCommand.run(Array(CommandLine.arguments.dropFirst()), extraTargets: []))
    }
}
#endif
