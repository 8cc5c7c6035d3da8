/// One event on its way to a function, and where its answer goes.
public struct Invocation: Sendable, Equatable {
    public var id: String
    public var topic: String
    public var payload: [UInt8]
    /// The payload parsed, when it is JSON.
    public var event: JSONValue?
    /// MQTT 5 response topic and correlation data, or a 3.1.1 client's `replyTo`.
    public var replyTopic: String?
    public var correlationData: [UInt8]?

    public init(id: String, topic: String, payload: [UInt8], event: JSONValue?, replyTopic: String? = nil,
                correlationData: [UInt8]? = nil) {
        self.id = id
        self.topic = topic
        self.payload = payload
        self.event = event
        self.replyTopic = replyTopic
        self.correlationData = correlationData
    }
}
