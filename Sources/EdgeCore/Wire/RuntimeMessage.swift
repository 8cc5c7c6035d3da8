/// The runtime protocol's limits (see docs/runtime-protocol.md).
public enum RuntimeProtocol {
    /// The longest line either side may send.
    public static let maxLineBytes = 4 << 20

    /// Whether an event of `payloadBytes` fits one invoke line, as JSON or as base64 (4/3 larger).
    public static func fits(payloadBytes: Int) -> Bool {
        payloadBytes / 3 * 4 + 4096 <= maxLineBytes
    }
}

/// A message from the agent to a function instance, built only here.
public enum AgentMessage: Sendable, Equatable {
    case initialize(function: String, version: String, thing: String, deploymentId: String, config: [String: JSONValue])
    /// One event; the event itself is added by `InvokeLine` (spliced as JSON, or as base64).
    case invoke(id: String, topic: String, timeoutMs: Int)
    case config([String: JSONValue])
    case shutdown
    case publishError(topic: String, message: String)

    /// The message as a JSON object (for `invoke`, without the event).
    public var json: JSONValue {
        switch self {
        case .initialize(let function, let version, let thing, let deploymentId, let config):
            return ["type": "init", "function": .string(function), "version": .string(version), "thing": .string(thing),
                    "deploymentId": .string(deploymentId), "config": .object(config)]
        case .invoke(let id, let topic, let timeoutMs):
            return ["type": "invoke", "id": .string(id), "topic": .string(topic), "timeoutMs": .int(Int64(timeoutMs))]
        case .config(let config):
            return ["type": "config", "config": .object(config)]
        case .shutdown:
            return ["type": "shutdown"]
        case .publishError(let topic, let message):
            return ["type": "publishError", "topic": .string(topic), "message": .string(message)]
        }
    }
}

/// How an invoke line carries its event: the MQTT payload itself when it is JSON on one line
/// (spliced in, never written again), the parsed event written on one line when the payload
/// spans several, else base64 with `"event": null`.
public enum InvokeEvent: Equatable, Sendable {
    case spliced
    case rewritten(JSONValue)
    case base64(String)

    public static func of(_ invocation: Invocation) -> InvokeEvent {
        guard let event = invocation.event else { return .base64(Base64.encode(invocation.payload)) }
        if invocation.payload.contains(0x0A) || invocation.payload.contains(0x0D) { return .rewritten(event) }
        return .spliced
    }
}

/// A message from a function instance to the agent, read only here.
public enum FunctionMessage: Sendable, Equatable {
    case ready(liveConfig: Bool)
    /// `id` as sent (the invocation's id is a string; anything else is a protocol error).
    case result(id: JSONValue?, value: JSONValue)
    case error(id: JSONValue?, type: String, message: String)
    case publish(topic: String, payload: JSONValue, qos: Int, retain: Bool)
    /// `shadow.get` or `shadow.update`, with the request as sent.
    case shadow(type: String, request: [String: JSONValue])
    case unknown(type: String)

    /// Reads one line's object (its `type` is a string: the channel checks that).
    public init(_ members: [String: JSONValue]) {
        let type = members["type"]?.stringValue ?? ""
        switch type {
        case "ready":
            self = .ready(liveConfig: members["liveConfig"]?.boolValue ?? true)
        case "result":
            self = .result(id: members["id"], value: members["result"] ?? .null)
        case "error":
            let error = members["error"]?.objectValue ?? [:]
            self = .error(id: members["id"], type: error["type"]?.stringValue ?? "Error",
                          message: error["message"]?.stringValue ?? "the handler failed without a message")
        case "publish":
            self = .publish(topic: members["topic"]?.stringValue ?? "", payload: members["payload"] ?? .null,
                            qos: members["qos"]?.intValue == 1 ? 1 : 0, retain: members["retain"]?.boolValue ?? false)
        case "shadow.get", "shadow.update":
            self = .shadow(type: type, request: members)
        default:
            self = .unknown(type: type)
        }
    }
}
