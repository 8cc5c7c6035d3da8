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

    /// The document's bytes, members in the order docs/topics.md shows them; the result as the
    /// function sent it.
    public var bytes: [UInt8] {
        var writer = JSONWriter(reservingCapacity: 192 + (outcome.resultBytes ?? 0))
        writer.beginObject()
        writer.key("thing")
        writer.write(thing)
        writer.key("function")
        writer.write(function)
        if let version {
            writer.key("version")
            writer.write(version)
        }
        writer.key("invocationId")
        writer.write(invocationId)
        writer.key("sourceTopic")
        writer.write(sourceTopic)
        writer.key("status")
        writer.write(outcome.isFailure ? "error" : "ok")
        if let durationMs {
            writer.key("durationMs")
            writer.write((durationMs * 1000).rounded() / 1000)
        }
        if let timestamp {
            writer.key("timestamp")
            writer.write(timestamp)
        }
        switch outcome {
        case .result(let value):
            writer.key("result")
            writer.write(raw: value.bytes)
        case .failure(let error):
            writer.key("error")
            writer.write(["type": .string(error.kind.name), "message": .string(error.message)] as JSONValue)
        }
        writer.endObject()
        return writer.bytes
    }
}

extension InvocationOutcome {
    fileprivate var resultBytes: Int? {
        if case .result(let value) = self { return value.bytes.count }
        return nil
    }
}
