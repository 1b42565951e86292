import KetchShared
import Testing

/// Mutated valid lines must decode to a message or a `WireError` — never crash, never hang.
@Suite struct CodecFuzzTests {
    @Test(arguments: [11, 12, 13])
    func mutatedLinesNeverCrashTheDecoder(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let lines = (WireFixtures.apiMessages + WireFixtures.memberMessages).map { try! Array(WireCodec.encode($0).dropLast()) }
        var decoded = 0, refused = 0
        for _ in 0..<3000 {
            var line = lines[Int(rng.next() % UInt64(lines.count))]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(line.count))
                switch rng.next() % 4 {
                case 0: line[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: line.remove(at: i)
                case 2: line.insert(Array("{}[]\":,0aé\\".utf8)[Int(rng.next() % 12)], at: i)
                default: line = Array(line[..<i])
                }
                if line.isEmpty { line = [0x7B] }
            }
            for port in WirePort.allCases {
                do {
                    _ = try WireCodec.decode(line, port: port)
                    decoded += 1
                } catch {
                    refused += 1
                    #expect(!error.message.isEmpty && !error.message.contains("\n"))
                }
            }
        }
        #expect(refused > 0)
        #expect(decoded + refused == 6000)
    }
}
