/// One event on its way to a function, and where its answer goes.
public struct Invocation: Sendable, Equatable {
    public var id: String
    public var topic: String
    public var payload: [UInt8]
    /// Whether the payload is one JSON value (within the event nesting limit): then it reaches the
    /// function as its own bytes, else as base64.
    public var isJSON: Bool
    /// MQTT 5 response topic and correlation data, or a 3.1.1 client's `replyTo`.
    public var replyTopic: String?
    public var correlationData: [UInt8]?

    public init(id: String, topic: String, payload: [UInt8], isJSON: Bool, replyTopic: String? = nil,
                correlationData: [UInt8]? = nil) {
        self.id = id
        self.topic = topic
        self.payload = payload
        self.isJSON = isJSON
        self.replyTopic = replyTopic
        self.correlationData = correlationData
    }
}
