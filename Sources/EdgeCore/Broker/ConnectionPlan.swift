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
        case .auto: return learned[index] ?? (fellBack.contains(index) ? 4 : 5)
        }
    }

    /// The attempt connected (the broker's CONNACK accepted it).
    public mutating func connected() {
        learned[index] = protocolLevel
        fellBack.remove(index)
        failures = 0
    }

    /// What comes after a failed attempt.
    public struct Step: Sendable, Equatable {
        public var delayMs: Int
        /// The same endpoint is tried again with MQTT 3.1.1.
        public var fallingBack: Bool
    }

    /// The attempt failed; `unit` is a random draw in 0...1 for the jitter.
    public mutating func failed(_ failure: ConnectionFailure, unit: Double) -> Step {
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

    /// An accepted connection ended: the wait before trying the same endpoint again.
    public mutating func lost(unit: Double) -> Int {
        failures += 1
        return backoff.delayMs(afterFailures: failures, unit: unit)
    }
}
