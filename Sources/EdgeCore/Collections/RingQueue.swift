/// A first-in first-out queue with O(1) append and removal at the front (a growable ring buffer),
/// for the agent's function queues and outbox.
public struct RingQueue<Element>: Sequence {
    private var storage: [Element?]
    private var head = 0
    public private(set) var count = 0

    public init() { storage = [] }

    public init<S: Sequence>(_ elements: S) where S.Element == Element {
        storage = elements.map { Optional($0) }
        count = storage.count
    }

    public var isEmpty: Bool { count == 0 }

    public var first: Element? { count == 0 ? nil : storage[head] }

    public mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    public mutating func append<S: Sequence>(contentsOf elements: S) where S.Element == Element {
        for element in elements { append(element) }
    }

    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        if count == 0 { head = 0 }
        return element
    }

    public mutating func removeAll() {
        storage.removeAll()
        head = 0
        count = 0
    }

    /// Removes the elements that match, keeping the order of the others.
    public mutating func removeAll(where matches: (Element) -> Bool) {
        self = RingQueue(filter { !matches($0) })
    }

    private mutating func grow() {
        var larger: [Element?] = Array(repeating: nil, count: Swift.max(8, storage.count * 2))
        for index in 0..<count { larger[index] = storage[(head + index) % storage.count] }
        storage = larger
        head = 0
    }

    public func makeIterator() -> AnyIterator<Element> {
        var index = 0
        return AnyIterator {
            guard index < count else { return nil }
            defer { index += 1 }
            return storage[(head + index) % storage.count]
        }
    }
}

extension RingQueue: Sendable where Element: Sendable {}
