/// A double-ended queue on a ring buffer: append, prepend, popFirst and popLast in O(1)
/// (amortised: the buffer doubles when full and never shrinks unless emptied without keeping
/// capacity). Positions count from the front, 0 ..< count.
public struct RingQueue<Element> {
    /// A power of two long (or empty); the element at position `i` is in slot `(head + i) & mask`.
    private var slots: ContiguousArray<Element?>
    private var head = 0
    public private(set) var count = 0

    public init() {
        slots = []
    }

    /// An empty queue that holds `minimumCapacity` elements before it first grows.
    public init(minimumCapacity: Int) {
        slots = ContiguousArray(repeating: nil, count: RingQueue.slotCount(for: minimumCapacity))
    }

    /// How many elements fit before the buffer grows.
    public var capacity: Int { slots.count }

    public mutating func append(_ element: Element) {
        if count == slots.count { grow() }
        slots[slot(count)] = element
        count += 1
    }

    public mutating func append<S: Sequence>(contentsOf elements: S) where S.Element == Element {
        for element in elements { append(element) }
    }

    /// Removes the elements that match, keeping the others in order.
    public mutating func removeAll(where matches: (Element) -> Bool) {
        var kept = RingQueue(minimumCapacity: count)
        while let element = popFirst() {
            if !matches(element) { kept.append(element) }
        }
        self = kept
    }

    public mutating func prepend(_ element: Element) {
        if count == slots.count { grow() }
        head = (head - 1) & (slots.count - 1)
        slots[head] = element
        count += 1
    }

    /// Takes the first element, or nil when empty.
    @discardableResult
    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = slots[head].take()
        head = (head + 1) & (slots.count - 1)
        count -= 1
        return element
    }

    /// Takes the last element, or nil when empty.
    @discardableResult
    public mutating func popLast() -> Element? {
        guard count > 0 else { return nil }
        count -= 1
        return slots[slot(count)].take()
    }

    public mutating func removeAll(keepingCapacity: Bool = false) {
        if keepingCapacity {
            for position in 0..<count { slots[slot(position)] = nil }
        } else {
            slots = []
        }
        head = 0
        count = 0
    }

    private func slot(_ position: Int) -> Int {
        (head + position) & (slots.count - 1)
    }

    /// Doubles the buffer, laying the elements out from slot 0 in order.
    private mutating func grow() {
        var larger = ContiguousArray<Element?>(repeating: nil, count: Swift.max(8, slots.count * 2))
        for position in 0..<count { larger[position] = slots[slot(position)].take() }
        slots = larger
        head = 0
    }

    private static func slotCount(for capacity: Int) -> Int {
        guard capacity > 0 else { return 0 }
        var slots = 8
        while slots < capacity { slots *= 2 }
        return slots
    }
}

extension RingQueue: RandomAccessCollection, MutableCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Element {
        get {
            precondition(position >= 0 && position < count, "RingQueue position \(position) out of 0..<\(count)")
            return slots[slot(position)]!
        }
        set {
            precondition(position >= 0 && position < count, "RingQueue position \(position) out of 0..<\(count)")
            slots[slot(position)] = newValue
        }
    }

    public var first: Element? { count > 0 ? slots[head] : nil }
    public var last: Element? { count > 0 ? slots[slot(count - 1)] : nil }
    public var isEmpty: Bool { count == 0 }
}

extension RingQueue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) {
        self.init(minimumCapacity: elements.count)
        for element in elements { append(element) }
    }
}

extension RingQueue: Equatable where Element: Equatable {
    public static func == (lhs: RingQueue, rhs: RingQueue) -> Bool {
        lhs.elementsEqual(rhs)
    }
}

extension RingQueue: Sendable where Element: Sendable {}

extension RingQueue: CustomStringConvertible {
    public var description: String { "RingQueue(\(Array(self)))" }
}
