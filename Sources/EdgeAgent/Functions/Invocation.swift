import EdgeCore

/// One event on its way to a function, and where its answer goes.
struct Invocation {
    var id: String
    var topic: String
    var payload: [UInt8]
    var event: JSONValue?
    /// MQTT 5 response topic and correlation data, or a 3.1.1 client's `replyTo`.
    var replyTopic: String?
    var correlationData: [UInt8]?
}

/// How an invocation ended, as published on the output topic.
enum InvocationOutcome {
    case result(JSONValue)
    case failure(type: String, message: String)
}
