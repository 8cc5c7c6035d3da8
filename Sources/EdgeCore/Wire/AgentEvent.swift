/// A message on `edge/things/{thing}/events` (docs/topics.md, "Events"), built only here.
public enum AgentEvent: Sendable, Equatable {
    /// About one function: carries its name and version.
    case function(String, version: String, FunctionEvent)
    /// A deployment's status changed.
    case deployment(DeploymentState, deploymentId: String, reason: String)
    /// A direct invocation named a function that is not deployed.
    case unknownFunction(String, invocationId: String, sourceTopic: String)
    /// An event came with a reply topic the agent will not publish to (TopicConfinement); its
    /// answer went to the function's output topic only.
    case replyRefused(invocationId: String, sourceTopic: String, replyTopic: String, reason: String)
    /// The applied deployment could not be saved.
    case persistFailed(String)
    /// A message on a deployment topic was not acted on (an empty one that was not retained).
    case deploymentIgnored(topic: String, reason: String)
    /// An operator's restart, stop or start on the control topic, and the error if it was not done.
    case control(String, function: String, requestId: String?, error: String?)

    public var type: String {
        switch self {
        case .function(_, _, let event): return event.type
        case .deployment(let state, _, _): return "deployment.\(state.rawValue.lowercased())"
        case .unknownFunction: return "invoke.unknown_function"
        case .replyRefused: return "invoke.reply_refused"
        case .persistFailed: return "agent.persist_failed"
        case .deploymentIgnored: return "deployment.ignored"
        case .control(let action, _, _, _): return "control.\(action)"
        }
    }

    public func document(thing: String, timestamp: Int64) -> JSONValue {
        var members: [String: JSONValue]
        switch self {
        case .function(let name, let version, let event):
            members = event.detail
            members["function"] = .string(name)
            members["version"] = .string(version)
        case .deployment(_, let deploymentId, let reason):
            members = ["deploymentId": .string(deploymentId), "reason": .string(reason)]
        case .unknownFunction(let name, let invocationId, let sourceTopic):
            members = ["function": .string(name), "invocationId": .string(invocationId), "sourceTopic": .string(sourceTopic)]
        case .replyRefused(let invocationId, let sourceTopic, let replyTopic, let reason):
            members = ["invocationId": .string(invocationId), "sourceTopic": .string(sourceTopic),
                       "replyTopic": .string(replyTopic), "reason": .string(reason)]
        case .persistFailed(let message):
            members = ["message": .string(message)]
        case .deploymentIgnored(let topic, let reason):
            members = ["topic": .string(topic), "reason": .string(reason)]
        case .control(_, let function, let requestId, let error):
            members = ["function": .string(function), "outcome": error == nil ? "ok" : "error"]
            if let requestId { members["requestId"] = .string(requestId) }
            if let error { members["error"] = .string(error) }
        }
        members["type"] = .string(type)
        members["thing"] = .string(thing)
        members["timestamp"] = .int(timestamp)
        return .object(members)
    }
}
