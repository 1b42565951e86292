import KetchShared
/// The simulator's only source of randomness, seeded once per run (SplitMix64 underneath; the
/// seed offset keeps every recorded seed replaying as before).
public struct SimRandom: Sendable {
    private var base: SplitMix64
    public init(seed: UInt64) { base = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }

    public mutating func next() -> UInt64 { base.next() }

    /// Uniform in `range` (inclusive).
    public mutating func int(_ range: ClosedRange<Int64>) -> Int64 {
        let span = UInt64(range.upperBound - range.lowerBound) &+ 1
        return range.lowerBound + Int64(span == 0 ? next() : next() % span)
    }

    public mutating func index(_ count: Int) -> Int { Int(next() % UInt64(count)) }

    /// True with probability `p` (0...1).
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }

    public mutating func pick<T>(_ xs: [T]) -> T { xs[index(xs.count)] }
}

/// A binary min-heap keyed by (time, insertion order): ties pop in the order they were pushed,
/// which keeps runs deterministic. Elements live in a side table so the heap moves only small
/// keys.
struct EventQueue<Element> {
    private var heap: [(time: Int64, order: UInt64, slot: Int)] = []
    private var slots: [Element?] = []
    private var free: [Int] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ time: Int64, _ element: Element) {
        counter += 1
        let slot: Int
        if let f = free.popLast() { slots[f] = element; slot = f } else { slots.append(element); slot = slots.count - 1 }
        heap.append((time, counter, slot))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if less(i, parent) { heap.swapAt(i, parent); i = parent } else { break }
        }
    }

    mutating func pop() -> (time: Int64, element: Element)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(l, m) { m = l }
            if r < heap.count && less(r, m) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        let element = slots[top.slot]!
        slots[top.slot] = nil
        free.append(top.slot)
        return (top.time, element)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].time < heap[b].time || (heap[a].time == heap[b].time && heap[a].order < heap[b].order)
    }
}
