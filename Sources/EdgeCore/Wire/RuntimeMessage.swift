/// The runtime protocol's limits (see docs/runtime-protocol.md).
public enum RuntimeProtocol {
    /// The longest line either side may send.
    public static let maxLineBytes = 4 << 20

    /// How deeply an event may nest to be passed on as JSON (deeper: as base64).
    public static let maxEventDepth = 64
    /// How deeply a line may nest: an event's own depth and as much again for what a function
    /// puts around it, so that no answer is refused for a depth the agent let its event have
    /// (an `invoke` line adds one level; an echo of the event in a result adds two or more).
    public static let maxLineDepth = 2 * maxEventDepth

    /// Whether an event of `payloadBytes` fits one invoke line, as JSON or as base64 (4/3 larger).
    public static func fits(payloadBytes: Int) -> Bool {
        payloadBytes / 3 * 4 + 4096 <= maxLineBytes
    }
}

/// A message from the agent to a function instance, built only here.
public enum AgentMessage: Sendable, Equatable {
    case initialize(function: String, version: String, thing: String, deploymentId: String, config: [String: JSONValue])
    // An `invoke` is written by `InvokeEvent.line`, around the event's own bytes.
    case config([String: JSONValue])
    case shutdown
    case publishError(topic: String, message: String)

    /// The message as a JSON object.
    public var json: JSONValue {
        switch self {
        case .initialize(let function, let version, let thing, let deploymentId, let config):
            return ["type": "init", "function": .string(function), "version": .string(version), "thing": .string(thing),
                    "deploymentId": .string(deploymentId), "config": .object(config)]
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
/// (spliced in, never parsed into values or written again); JSON over several lines with its
/// line breaks made spaces (in valid JSON they can only be white space between tokens); else
/// base64 with `"event": null`.
public enum InvokeEvent: Equatable, Sendable {
    case spliced
    case flattened([UInt8])
    case base64(String)

    public static func of(_ invocation: Invocation) -> InvokeEvent {
        guard invocation.isJSON else { return .base64(Base64.encode(invocation.payload)) }
        guard invocation.payload.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return .spliced }
        return .flattened(invocation.payload.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 })
    }

    /// The `invoke` message for `invocation` (built only here): its id, topic and `timeoutMs`, and
    /// the event as `of` says.
    public static func line(for invocation: Invocation, timeoutMs: Int) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: invocation.payload.count + invocation.id.utf8.count + invocation.topic.utf8.count + 64)
        writer.beginObject()
        writer.key("type")
        writer.write("invoke")
        writer.key("id")
        writer.write(invocation.id)
        writer.key("topic")
        writer.write(invocation.topic)
        writer.key("timeoutMs")
        writer.write(Int64(timeoutMs))
        switch of(invocation) {
        case .spliced:
            writer.key("event")
            writer.write(raw: invocation.payload)
        case .flattened(let event):
            writer.key("event")
            writer.write(raw: event)
        case .base64(let text):
            writer.key("event")
            writer.write(.null)
            writer.key("payloadBase64")
            writer.write(text)
        }
        writer.endObject()
        return writer.bytes
    }
}

/// A message from a function instance to the agent, read only here.
public enum FunctionMessage: Sendable, Equatable {
    case ready(liveConfig: Bool)
    /// `id` as sent (the invocation's id is a string; anything else is a protocol error).
    case result(id: JSONValue?, value: RawJSON)
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
            self = .result(id: members["id"], value: RawJSON(members["result"] ?? .null))
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
