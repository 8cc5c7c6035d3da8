/// The outbox's decisions, without I/O: which message goes to the broker now and which waits
/// in the store, in what order, how many are in flight, and what goes when the store is full.
///
/// Every message gets a sequence number, in the order it was published. A message is *stored*
/// from the moment it is accepted until it is sent (QoS 0) or acknowledged by the broker (QoS 1);
/// the shell writes it to disk (`OutboxStore`) when `Admission.store` says so. A stored message
/// is either *waiting* (not yet handed to the MQTT client) or *in flight* (handed over, its
/// PUBACK awaited). Waiting messages go out oldest first; a live message goes straight out only
/// when nothing waits for its topic, so order is kept per topic across QoS levels, while the
/// live traffic of other topics never queues behind a replay.
public struct OutboxLedger: Sendable {
    public let limits: OutboxLimits

    /// A stored message, as far as decisions need it (the payload stays on disk).
    public struct Message: Sendable, Equatable {
        public var seq: UInt64
        public var topic: String
        public var bytes: Int
        public var qos: Int
        /// Only its newest waiting copy matters (health): a newer one replaces it.
        public var coalesce: Bool

        public init(seq: UInt64, topic: String, bytes: Int, qos: Int, coalesce: Bool = false) {
            self.seq = seq
            self.topic = topic
            self.bytes = bytes
            self.qos = qos
            self.coalesce = coalesce
        }
    }

    public enum Route: Sendable, Equatable {
        /// Hand it to the MQTT client now.
        case send
        /// Keep it in the store; a replay sends it.
        case wait
    }

    public struct Admission: Sendable, Equatable {
        public var seq: UInt64
        public var route: Route
        /// Write it to the store before it is handed over.
        public var store: Bool
        /// A waiting message this one replaces (an older copy of a coalescing topic): delete it.
        public var replaces: UInt64?

        public init(seq: UInt64, route: Route, store: Bool, replaces: UInt64?) {
            self.seq = seq
            self.route = route
            self.store = store
            self.replaces = replaces
        }
    }

    private struct InFlight: Sendable {
        var seq: UInt64
        var bytes: Int
        var stored: Bool
        var replayed: Bool
    }

    public private(set) var nextSeq: UInt64 = 1
    /// Stored messages (waiting and in flight) and their payload bytes.
    public private(set) var storedCount = 0
    public private(set) var storedBytes = 0
    /// Stored messages not yet handed over.
    public private(set) var waitingCount = 0
    private var waitingByTopic: [String: Int] = [:]
    /// The newest waiting message of each coalescing topic, and its size.
    private var coalescing: [String: (seq: UInt64, bytes: Int)] = [:]
    private var inFlight: [Int32: InFlight] = [:]
    private var inFlightSeqs: Set<UInt64> = []
    private var replaysInFlight = 0
    /// Waiting messages with a sequence number up to this one have been looked at by the replay
    /// since the last connect; the next replay reads on from here.
    public private(set) var cursor: UInt64 = 0

    /// Dropped, oldest first, because the store was full (or could not be written while offline).
    public private(set) var dropped = 0
    /// Waiting copies of a coalescing topic replaced by a newer one.
    public private(set) var replaced = 0

    public init(limits: OutboxLimits) {
        self.limits = limits
    }

    public var inFlightCount: Int { inFlight.count }
    public var isInFlightFull: Bool { inFlight.count >= limits.maxInFlight }
    /// A replay may hand over another QoS 1 message.
    public var replayHasRoom: Bool { replaysInFlight < limits.replayInFlight && !isInFlightFull }
    public func isInFlight(_ seq: UInt64) -> Bool { inFlightSeqs.contains(seq) }
    public func waiting(on topic: String) -> Int { waitingByTopic[topic] ?? 0 }
    /// Over a bound: the shell drops the oldest waiting messages (`dropped(_:)`) until this is false.
    public var isOverLimits: Bool { storedCount > limits.maxMessages || storedBytes > limits.maxBytes }

    // MARK: Start

    /// What the store holds for one topic, at start.
    public struct TopicSummary: Sendable, Equatable {
        public var topic: String
        public var count: Int
        public var bytes: Int
        /// The newest message of a coalescing topic, and its size.
        public var newestCoalescing: (seq: UInt64, bytes: Int)?

        public init(topic: String, count: Int, bytes: Int, newestCoalescing: (seq: UInt64, bytes: Int)? = nil) {
            self.topic = topic
            self.count = count
            self.bytes = bytes
            self.newestCoalescing = newestCoalescing
        }

        public static func == (a: TopicSummary, b: TopicSummary) -> Bool {
            a.topic == b.topic && a.count == b.count && a.bytes == b.bytes
                && a.newestCoalescing?.seq == b.newestCoalescing?.seq && a.newestCoalescing?.bytes == b.newestCoalescing?.bytes
        }
    }

    /// What the store held at start: all of it waits (nothing is in flight in a new process).
    /// `maxSeq` is the highest sequence number stored, so new messages go behind.
    public mutating func restore(_ topics: [TopicSummary], maxSeq: UInt64) {
        for summary in topics {
            storedCount += summary.count
            storedBytes += summary.bytes
            waitingCount += summary.count
            waitingByTopic[summary.topic, default: 0] += summary.count
            if let newest = summary.newestCoalescing { coalescing[summary.topic] = newest }
        }
        nextSeq = max(nextSeq, maxSeq + 1)
    }

    // MARK: Publishing

    /// A new message: whether it goes out now, and whether it is stored first.
    public mutating func admit(topic: String, bytes: Int, qos: Int, coalesce: Bool = false, online: Bool) -> Admission {
        let seq = nextSeq
        nextSeq += 1
        if online && waiting(on: topic) == 0 && (qos == 0 || !isInFlightFull) {
            // A QoS 1 message is stored until its PUBACK; a QoS 0 one is gone once written.
            return Admission(seq: seq, route: .send, store: qos > 0, replaces: nil)
        }
        var replaces: UInt64?
        if coalesce, let older = coalescing[topic] {
            replaces = older.seq
            removeWaiting(topic: topic, bytes: older.bytes)
            replaced += 1
        }
        addWaiting(Message(seq: seq, topic: topic, bytes: bytes, qos: qos, coalesce: coalesce))
        return Admission(seq: seq, route: .wait, store: true, replaces: replaces)
    }

    /// A message sent at once (`Route.send`) was handed over; a QoS 1 one now awaits its PUBACK.
    public mutating func handedOver(seq: UInt64, bytes: Int, qos: Int, messageId: Int32, stored: Bool) {
        guard qos > 0 else { return }
        if stored {
            storedCount += 1
            storedBytes += bytes
        }
        track(messageId, InFlight(seq: seq, bytes: bytes, stored: stored, replayed: false))
    }

    /// A message meant to go at once found the client offline: it waits, stored (`store` is
    /// false when it could not be written).
    public mutating func sendFailed(_ message: Message, stored: Bool) {
        guard stored else {
            dropped += 1
            return
        }
        addWaiting(message)
        cursor = min(cursor, message.seq &- 1)
    }

    /// A waiting message could not be written to the store: it is lost, and counted.
    public mutating func notStored(_ message: Message) {
        removeWaiting(topic: message.topic, bytes: message.bytes)
        if message.coalesce, coalescing[message.topic]?.seq == message.seq { coalescing[message.topic] = nil }
        dropped += 1
    }

    // MARK: Replay

    /// The replay looked at the stored message `seq` (in flight already, or handed over now).
    public mutating func passed(_ seq: UInt64) {
        cursor = max(cursor, seq)
    }

    /// A waiting message was handed over by the replay: QoS 0 is done (delete it), QoS 1 awaits its PUBACK.
    public mutating func replayed(_ message: Message, messageId: Int32?) {
        passed(message.seq)
        waitingCount -= 1
        decrement(message.topic)
        if message.coalesce, coalescing[message.topic]?.seq == message.seq { coalescing[message.topic] = nil }
        if message.qos > 0, let messageId {
            track(messageId, InFlight(seq: message.seq, bytes: message.bytes, stored: true, replayed: true))
        } else {
            storedCount -= 1
            storedBytes -= message.bytes
        }
    }

    /// A stored waiting message is gone without being sent: dropped for room (`isOverLimits`) or
    /// refused by the client for good.
    public mutating func dropped(_ message: Message) {
        passed(message.seq)
        removeWaiting(topic: message.topic, bytes: message.bytes)
        if message.coalesce, coalescing[message.topic]?.seq == message.seq { coalescing[message.topic] = nil }
        dropped += 1
    }

    /// The broker's PUBACK: the stored message to delete, if it was stored.
    public mutating func acknowledged(_ messageId: Int32) -> UInt64? {
        guard let entry = inFlight.removeValue(forKey: messageId) else { return nil }
        inFlightSeqs.remove(entry.seq)
        if entry.replayed { replaysInFlight -= 1 }
        guard entry.stored else { return nil }
        storedCount -= 1
        storedBytes -= entry.bytes
        return entry.seq
    }

    /// The connection ended: the next connect replays from the oldest waiting message. What is
    /// in flight stays with the client, which sends it again after the connect.
    public mutating func disconnected() {
        cursor = 0
    }

    // MARK: Accounting

    private mutating func track(_ messageId: Int32, _ entry: InFlight) {
        if let stale = inFlight.updateValue(entry, forKey: messageId) {
            // The client reuses an id only once its message is done; a stale entry means its
            // acknowledgement was lost with the connection. Its message stays stored and is sent
            // again after the next start.
            inFlightSeqs.remove(stale.seq)
            if stale.replayed { replaysInFlight -= 1 }
        }
        inFlightSeqs.insert(entry.seq)
        if entry.replayed { replaysInFlight += 1 }
    }

    private mutating func addWaiting(_ message: Message) {
        storedCount += 1
        storedBytes += message.bytes
        waitingCount += 1
        waitingByTopic[message.topic, default: 0] += 1
        if message.coalesce { coalescing[message.topic] = (message.seq, message.bytes) }
    }

    private mutating func removeWaiting(topic: String, bytes: Int) {
        storedCount -= 1
        storedBytes -= bytes
        waitingCount -= 1
        decrement(topic)
    }

    private mutating func decrement(_ topic: String) {
        guard let count = waitingByTopic[topic] else { return }
        waitingByTopic[topic] = count > 1 ? count - 1 : nil
    }
}
