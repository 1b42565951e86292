/// SplitMix64: the one small deterministic generator used wherever randomness must replay from
/// a seed (membership probe order, the simulator, seeded tests). The core takes randomness only
/// as a seed and draws from this.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<n`; 0 when `n <= 1`.
    public mutating func next(below n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }

    /// Fisher–Yates, so the order depends only on the seed.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, next(below: i + 1)) }
    }
}
