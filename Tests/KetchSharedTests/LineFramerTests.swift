import KetchShared
import Testing

typealias SeededRandom = SplitMix64

@Suite struct LineFramerTests {
    static let stream: [UInt8] = {
        var bytes: [UInt8] = []
        for message in WireFixtures.apiMessages { bytes += try! WireCodec.encode(message) }
        return bytes
    }()

    func decodeAll(_ frames: [LineFramer.Frame]) throws -> [WireMessage] {
        try frames.map { frame in
            guard case .line(let line) = frame else { throw WireError(.lineTooLong, "unexpected") }
            return try WireCodec.decode(line, port: .api)
        }
    }

    @Test func oneByteAtATimeYieldsEveryMessage() throws {
        var framer = LineFramer()
        var frames: [LineFramer.Frame] = []
        for b in Self.stream { frames += framer.push([b]) }
        #expect(try decodeAll(frames) == WireFixtures.apiMessages)
        #expect(framer.bufferedByteCount == 0)
    }

    @Test(arguments: [1, 2, 3, 42, 1234, 99_991])
    func randomChunksYieldEveryMessage(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        var framer = LineFramer()
        var frames: [LineFramer.Frame] = []
        var offset = 0
        while offset < Self.stream.count {
            let size = Int.random(in: 1...700, using: &rng)
            let end = min(offset + size, Self.stream.count)
            frames += framer.push(Self.stream[offset..<end])
            offset = end
        }
        #expect(try decodeAll(frames) == WireFixtures.apiMessages, "replay with seed \(seed)")
    }

    @Test func wholeStreamAtOnce() throws {
        var framer = LineFramer()
        #expect(try decodeAll(framer.push(Self.stream)) == WireFixtures.apiMessages)
    }

    @Test func carriageReturnsAndBlankLinesAreForgiven() {
        var framer = LineFramer()
        let frames = framer.push(Array("a\r\n\n\r\nb\n".utf8))
        #expect(frames == [.line(Array("a".utf8)), .line(Array("b".utf8))])
    }

    @Test func aLineOfExactlyTheLimitIsAccepted() {
        var framer = LineFramer(maxLineBytes: 10)
        let frames = framer.push(Array("0123456789\n".utf8))
        #expect(frames == [.line(Array("0123456789".utf8))])
    }

    @Test(arguments: [1, 3, 7, 64])
    func oversizedLineIsReportedOnceAndTheFramerResynchronises(chunk: Int) {
        var framer = LineFramer(maxLineBytes: 16)
        let input = Array("short\n".utf8) + [UInt8](repeating: 0x41, count: 100) + Array("\nafter\n".utf8)
        var frames: [LineFramer.Frame] = []
        var offset = 0
        var maxBuffered = 0
        while offset < input.count {
            let end = min(offset + chunk, input.count)
            frames += framer.push(input[offset..<end])
            maxBuffered = max(maxBuffered, framer.bufferedByteCount)
            offset = end
        }
        #expect(frames.count == 3)
        #expect(frames.first == .line(Array("short".utf8)))
        guard case .tooLong(let error) = frames[1] else { Issue.record("no tooLong frame: \(frames)"); return }
        #expect(error.code == .lineTooLong)
        #expect(error.message.contains("16 bytes"))
        #expect(frames.last == .line(Array("after".utf8)))
        #expect(maxBuffered <= 16)
    }

    @Test func endlessGarbageWithoutNewlineNeverBuffersBeyondTheLimit() {
        var framer = LineFramer(maxLineBytes: 1024)
        var errors = 0
        for _ in 0..<1000 {
            for frame in framer.push([UInt8](repeating: 0x7A, count: 4096)) {
                if case .tooLong = frame { errors += 1 }
            }
            #expect(framer.bufferedByteCount <= 1024)
        }
        #expect(errors == 1)
        #expect(framer.push(Array("\nok\n".utf8)) == [.line(Array("ok".utf8))])
    }

    @Test func defaultLimitIsOneMebibyte() {
        #expect(LineFramer().maxLineBytes == 1_048_576)
    }
}
