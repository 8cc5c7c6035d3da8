/// A message on its way out to the broker.
public struct OutboundMessage: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool
    /// MQTT 5 correlation data, echoed to whoever asked with a response topic.
    public var correlation: [UInt8]?

    public init(topic: String, payload: [UInt8], qos: Int, retain: Bool = false, correlation: [UInt8]? = nil) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.correlation = correlation
    }
}

/// The outbox's policy for messages held while the broker is away: kept in order, bounded by a
/// count and by the bytes of their payloads; when either bound is passed the oldest go first,
/// and are counted. No I/O: the outbox decides when to hold and when to send.
public struct HeldMessages: Sendable {
    public let maxMessages: Int
    public let maxBytes: Int
    private var queue = RingQueue<OutboundMessage>()
    /// The payload bytes held now.
    public private(set) var bytes = 0
    /// How many were dropped, oldest first, to stay within the bounds (since this was made).
    public private(set) var dropped = 0

    public init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    public var count: Int { queue.count }
    public var isEmpty: Bool { queue.isEmpty }
    /// The oldest message held: the next to send.
    public var first: OutboundMessage? { queue.first }

    /// Holds `message` behind the others; drops the oldest while over a bound (the message
    /// itself, last, if it alone passes the byte bound).
    public mutating func hold(_ message: OutboundMessage) {
        queue.append(message)
        bytes += message.payload.count
        while queue.count > maxMessages || bytes > maxBytes, let oldest = queue.popFirst() {
            bytes -= oldest.payload.count
            dropped += 1
        }
    }

    /// Takes the oldest message, once it has been sent (or refused for good).
    @discardableResult
    public mutating func removeFirst() -> OutboundMessage? {
        guard let oldest = queue.popFirst() else { return nil }
        bytes -= oldest.payload.count
        return oldest
    }
}
