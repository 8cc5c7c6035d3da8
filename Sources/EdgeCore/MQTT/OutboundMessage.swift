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
