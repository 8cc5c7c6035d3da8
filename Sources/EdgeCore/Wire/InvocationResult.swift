/// The document published for each invocation, on the function's output topic and any reply
/// topic (docs/topics.md, "Results"), built only here.
public struct InvocationResult: Sendable, Equatable {
    public var thing: String
    public var function: String
    /// nil when no such function is deployed.
    public var version: String?
    public var invocationId: String
    public var sourceTopic: String
    public var outcome: InvocationOutcome
    public var durationMs: Double?
    public var timestamp: Int64?

    public init(thing: String, function: String, version: String?, invocationId: String, sourceTopic: String,
                outcome: InvocationOutcome, durationMs: Double? = nil, timestamp: Int64? = nil) {
        self.thing = thing
        self.function = function
        self.version = version
        self.invocationId = invocationId
        self.sourceTopic = sourceTopic
        self.outcome = outcome
        self.durationMs = durationMs
        self.timestamp = timestamp
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "thing": .string(thing), "function": .string(function), "invocationId": .string(invocationId),
            "sourceTopic": .string(sourceTopic),
        ]
        if let version { members["version"] = .string(version) }
        if let durationMs { members["durationMs"] = .double((durationMs * 1000).rounded() / 1000) }
        if let timestamp { members["timestamp"] = .int(timestamp) }
        switch outcome {
        case .result(let value):
            members["status"] = "ok"
            members["result"] = value
        case .failure(let error):
            members["status"] = "error"
            members["error"] = ["type": .string(error.kind.name), "message": .string(error.message)]
        }
        return .object(members)
    }
}
