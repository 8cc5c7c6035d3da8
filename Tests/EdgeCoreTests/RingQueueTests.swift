import Testing
@testable import EdgeCore

@Suite struct RingQueueTests {
    @Test func keepsOrderAcrossGrowthAndWrapping() {
        var queue = RingQueue<Int>()
        var expected: [Int] = []
        var next = 0
        // Interleave appends and pops so the head wraps around the storage several times.
        for round in 0..<50 {
            for _ in 0..<(round % 7 + 1) {
                queue.append(next)
                expected.append(next)
                next += 1
            }
            for _ in 0..<(round % 5) {
                #expect(queue.popFirst() == (expected.isEmpty ? nil : expected.removeFirst()))
            }
            #expect(Array(queue) == expected)
            #expect(queue.count == expected.count)
            #expect(queue.first == expected.first)
        }
    }

    @Test func anEmptyQueuePopsNothing() {
        var queue = RingQueue<String>()
        #expect(queue.popFirst() == nil)
        #expect(queue.isEmpty)
        queue.append("a")
        #expect(queue.popFirst() == "a")
        #expect(queue.popFirst() == nil)
    }

    @Test func removesWhatMatchesAndKeepsTheRestInOrder() {
        var queue = RingQueue(1...10)
        _ = queue.popFirst()
        queue.removeAll { $0 % 2 == 0 }
        #expect(Array(queue) == [3, 5, 7, 9])
        queue.removeAll()
        #expect(queue.isEmpty)
    }
}
