/// Where and how the next connect attempt goes: which of the broker's endpoints, with which MQTT
/// version, after what wait. Pure: the MQTT client asks it before each attempt and tells it how
/// each ended.
///
/// - Endpoints are tried in turn: a failed attempt moves to the next one, after the backoff
///   (exponential, capped, jittered: `ReconnectBackoff`). A connection that ends is tried again
///   on the same endpoint first (a restart of one node is quicker to wait out than a move).
/// - `auto` tries MQTT 5 first. When an endpoint fails an MQTT 5 CONNECT the way a broker that
///   does not speak it would (an "unacceptable protocol version" answer, a close, or silence),
///   the same endpoint is tried again at once with MQTT 3.1.1. What connected is remembered per
///   endpoint for every later attempt; a fall-back that did not connect either is forgotten, so
///   MQTT 5 gets another chance on the next round.
public struct ConnectionPlan: Sendable {
    public let endpoints: [BrokerEndpoint]
    public let setting: MQTTProtocolSetting
    public var backoff: ReconnectBackoff
    /// The endpoint of the current (or next) attempt.
    public private(set) var index = 0
    /// Failed attempts since the last connection: the backoff grows with them.
    public private(set) var failures = 0
    /// Per endpoint, the protocol level that connected last.
    private var learned: [Int: Int] = [:]
    /// Endpoints whose MQTT 5 CONNECT failed as if they did not speak it (auto only).
    private var fellBack: Set<Int> = []
    /// What the endpoint that connected last spoke.
    private var lastLearned: Int?
    /// When the current connection was accepted.
    private var connectedAtMs: Int64?
    /// How long a connection must last for the backoff to start over when it ends: a broker that
    /// accepts and then drops the agent at once (a refused subscription on RabbitMQ, a duplicate
    /// client id) is retried at the backoff's pace, not ten times a second.
    public static let stableMs: Int64 = 10_000

    public init(endpoints: [BrokerEndpoint], setting: MQTTProtocolSetting, backoff: ReconnectBackoff = ReconnectBackoff()) {
        precondition(!endpoints.isEmpty, "ConnectionPlan needs at least one endpoint")
        self.endpoints = endpoints
        self.setting = setting
        self.backoff = backoff
    }

    public var endpoint: BrokerEndpoint { endpoints[index] }

    /// The protocol level of the next attempt: 5, or 4 for MQTT 3.1.1.
    public var protocolLevel: Int {
        switch setting {
        case .v5: return 5
        case .v311: return 4
        case .auto:
            // An endpoint not tried yet starts with what the last one spoke: a cluster's nodes
            // run one broker.
            return learned[index] ?? (fellBack.contains(index) ? 4 : lastLearned ?? 5)
        }
    }

    /// The attempt connected (the broker's CONNACK accepted it).
    public mutating func connected(nowMs: Int64) {
        learned[index] = protocolLevel
        lastLearned = protocolLevel
        fellBack.remove(index)
        connectedAtMs = nowMs
    }

    /// What comes after a failed attempt.
    public struct Step: Sendable, Equatable {
        public var delayMs: Int
        /// The same endpoint is tried again with MQTT 3.1.1.
        public var fallingBack: Bool
    }

    /// The attempt failed; `unit` is a random draw in 0...1 for the jitter.
    public mutating func failed(_ failure: ConnectionFailure, unit: Double) -> Step {
        connectedAtMs = nil
        if setting == .auto, protocolLevel == 5, failure.suggestsOlderProtocol {
            learned[index] = nil
            fellBack.insert(index)
            return Step(delayMs: 0, fallingBack: true)
        }
        if setting == .auto, protocolLevel == 4, learned[index] == nil, failure.suggestsOlderProtocol {
            // 3.1.1 fared no better: the close was not about the version after all.
            fellBack.remove(index)
        }
        failures += 1
        index = (index + 1) % endpoints.count
        return Step(delayMs: backoff.delayMs(afterFailures: failures, unit: unit), fallingBack: false)
    }

    /// An accepted connection ended: the wait before trying the same endpoint again. After a
    /// connection that lasted `stableMs` the backoff starts over; after a shorter one it goes on
    /// growing.
    public mutating func lost(unit: Double, nowMs: Int64) -> Int {
        if let since = connectedAtMs, nowMs - since >= Self.stableMs { failures = 0 }
        connectedAtMs = nil
        failures += 1
        return backoff.delayMs(afterFailures: failures, unit: unit)
    }
}
