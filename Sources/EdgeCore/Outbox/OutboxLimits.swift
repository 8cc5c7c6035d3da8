/// How much the outbox keeps on disk and how much it hands the MQTT client at once
/// (`outbox` in the agent's configuration; docs/configuration.md).
public struct OutboxLimits: Sendable, Equatable {
    /// Messages kept at most (waiting and unacknowledged); past it the oldest waiting go first.
    public var maxMessages = 200_000
    /// Payload bytes kept at most; past it the oldest waiting go first.
    public var maxBytes = 64 << 20
    /// QoS 1 messages handed to the MQTT client and not yet acknowledged: the most the client
    /// ever holds in memory.
    public var maxInFlight = 128
    /// How the store reaches the disk: `normal` survives the agent being killed; `full` also a
    /// power cut, at the cost of a flush to the disk per batch of messages.
    public var sync: Sync = .normal

    public enum Sync: String, Sendable, CaseIterable {
        case normal
        case full
    }

    public static let maxMessagesRange = 100...10_000_000
    public static let maxBytesRange = (64 << 10)...(4 << 30)
    public static let maxInFlightRange = 1...65_535

    public init() {}

    public init(maxMessages: Int, maxBytes: Int, maxInFlight: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxInFlight = maxInFlight
    }

    /// The in-flight slots a replay may take: the rest stay free for live messages, so a replay
    /// of a long outage never makes a live answer wait for a slot.
    public var replayInFlight: Int { max(1, maxInFlight * 3 / 4) }
}
