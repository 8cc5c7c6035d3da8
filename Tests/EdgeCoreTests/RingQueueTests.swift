import Testing
@testable import EdgeCore

@Suite struct RingQueueTests {
    @Test func emptyQueue() {
        var queue = RingQueue<Int>()
        #expect(queue.isEmpty && queue.count == 0 && queue.capacity == 0)
        #expect(queue.first == nil && queue.last == nil)
        #expect(queue.popFirst() == nil && queue.popLast() == nil)
        #expect(Array(queue) == [])
    }

    @Test func firstInFirstOut() {
        var queue = RingQueue<Int>()
        for value in 1...5 { queue.append(value) }
        #expect(queue.count == 5 && queue.first == 1 && queue.last == 5)
        #expect([queue.popFirst(), queue.popFirst()] == [1, 2])
        #expect(Array(queue) == [3, 4, 5])
    }

    @Test func bothEnds() {
        var queue: RingQueue = [2, 3]
        queue.prepend(1)
        queue.append(4)
        queue.prepend(0)
        #expect(Array(queue) == [0, 1, 2, 3, 4])
        #expect(queue.popLast() == 4 && queue.popFirst() == 0)
        #expect(Array(queue) == [1, 2, 3] && queue[0] == 1 && queue[2] == 3)
        queue[1] = 20
        #expect(Array(queue) == [1, 20, 3])
    }

    @Test func wrapsAroundWithoutGrowing() {
        var queue = RingQueue<Int>(minimumCapacity: 8)
        #expect(queue.capacity == 8)
        // Keep 5 in the queue while 1,000 pass through: the head goes round the buffer many times.
        for value in 0..<5 { queue.append(value) }
        for value in 5..<1005 {
            queue.append(value)
            #expect(queue.popFirst() == value - 5)
        }
        #expect(Array(queue) == Array(1000..<1005))
        #expect(queue.capacity == 8)
    }

    @Test func growsInOrderWhenWrapped() {
        var queue = RingQueue<Int>(minimumCapacity: 8)
        for value in 0..<6 { queue.append(value) }
        for _ in 0..<4 { queue.popFirst() }
        // Now [4, 5] sits at the end of the buffer; these wrap to its start, then force a growth.
        for value in 6..<30 { queue.append(value) }
        #expect(Array(queue) == Array(4..<30))
        #expect(queue.capacity == 32)
        queue.prepend(3)
        #expect(queue.first == 3 && queue.last == 29 && queue.count == 27)
    }

    @Test func prependGrowsToo() {
        var queue = RingQueue<Int>()
        for value in (0..<20).reversed() { queue.prepend(value) }
        #expect(Array(queue) == Array(0..<20))
        var reversed: [Int] = []
        while let value = queue.popLast() { reversed.append(value) }
        #expect(reversed == Array((0..<20).reversed()))
    }

    @Test func removeAll() {
        var queue: RingQueue = [1, 2, 3]
        queue.removeAll(keepingCapacity: true)
        #expect(queue.isEmpty && queue.capacity == 8)
        queue.append(7)
        #expect(Array(queue) == [7])
        queue.removeAll()
        #expect(queue.isEmpty && queue.capacity == 0)
    }

    @Test func valueSemantics() {
        var original: RingQueue = [1, 2, 3]
        let copy = original
        original.popFirst()
        original.append(4)
        #expect(Array(copy) == [1, 2, 3])
        #expect(Array(original) == [2, 3, 4])
        #expect(copy != original)
        #expect(copy == [1, 2, 3])
    }

    @Test func releasesWhatItPops() {
        final class Token {}
        weak var watched: Token?
        var queue = RingQueue<Token>()
        do {
            let token = Token()
            watched = token
            queue.append(token)
        }
        #expect(watched != nil)
        queue.popFirst()
        #expect(watched == nil, "a popped element must not stay referenced from its slot")
    }

    @Test func collectionAlgorithmsSeePositionsFromTheFront() {
        var queue = RingQueue<Int>(minimumCapacity: 4)
        for value in 0..<8 { queue.append(value) }
        for _ in 0..<3 { queue.popFirst() }
        queue.append(8)
        #expect(queue.map { $0 * 2 } == [6, 8, 10, 12, 14, 16])
        #expect(queue.firstIndex(of: 5) == 2)
        #expect(queue.reversed() == [8, 7, 6, 5, 4, 3])
    }

    @Test func appendsASequenceAndRemovesWhatMatchesKeepingTheOrder() {
        var queue = RingQueue<Int>()
        queue.append(contentsOf: 1...10)
        queue.popFirst()
        queue.removeAll { $0 % 2 == 0 }
        #expect(Array(queue) == [3, 5, 7, 9])
    }
}
