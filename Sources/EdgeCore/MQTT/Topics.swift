/// The one place where the agent's topic names are built (see docs/topics.md).
public struct Topics: Sendable {
    public let thing: String
    // Built once: the router compares every message's topic with some of them.
    public let root: String
    public let deployment: String
    public let deploymentStatus: String
    public let health: String
    public let events: String
    public let invokeFilter: String
    /// Where the agent checks that the broker delivers to it (`DeliveryProbe`): under its invoke
    /// filter, with a level no function name can have.
    public let probe: String
    /// Where an operator asks the agent itself for an answer (`edgectl check`: the round trip
    /// and the device's clock), with a level no function name can have.
    public let ping: String
    /// Where an operator restarts, stops or starts a function, or asks for a log (`edgectl
    /// restart|stop|start|logs`); the broker's ACL must let operators alone write it.
    public let control: String
    /// The root of the thing's shadow topics (`shadows.topicRoot`).
    public let shadowRoot: String
    private let functionsPrefix: String

    public init(thing: String, shadowRoot: String = "$aws") {
        self.thing = thing
        self.shadowRoot = shadowRoot
        root = "edge/things/\(thing)"
        deployment = "\(root)/deployment"
        deploymentStatus = "\(root)/deployment/status"
        health = "\(root)/health"
        events = "\(root)/events"
        invokeFilter = "\(root)/functions/+/invoke"
        probe = "\(root)/functions/~probe/invoke"
        ping = "\(root)/functions/~ping/invoke"
        control = "\(root)/control"
        functionsPrefix = "\(root)/functions/"
    }

    public static func groupDeployment(_ group: String) -> String { "edge/groups/\(group)/deployment" }

    public func results(function: String) -> String { "\(root)/functions/\(function)/results" }
    public func invoke(function: String) -> String { "\(root)/functions/\(function)/invoke" }

    /// The function named by a direct-invocation topic, if `topic` is one.
    public func functionInvoked(by topic: String) -> String? {
        guard topic.hasPrefix(functionsPrefix), topic.hasSuffix("/invoke") else { return nil }
        let name = topic.dropFirst(functionsPrefix.count).dropLast("/invoke".count)
        return name.isEmpty || name.contains("/") ? nil : String(name)
    }

    /// The group named by a group deployment topic, if `topic` is one.
    public static func group(ofDeploymentTopic topic: String) -> String? {
        guard topic.hasPrefix("edge/groups/") else { return nil }
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "edge", parts[1] == "groups", !parts[2].isEmpty, parts[3] == "deployment" else { return nil }
        return String(parts[2])
    }

    /// Expands `{thing}` in a topic template from a deployment document.
    public func expand(_ template: String) -> String {
        template.replacingAll("{thing}", with: thing)
    }
}

extension String {
    /// Replaces every occurrence of `pattern` (non-empty), compared byte for byte in UTF-8,
    /// without Foundation or the string-processing module.
    public func replacingAll(_ pattern: String, with replacement: String) -> String {
        let text = Array(utf8), needle = Array(pattern.utf8)
        guard !needle.isEmpty, text.count >= needle.count else { return self }
        var result: [UInt8] = []
        result.reserveCapacity(text.count)
        var index = 0
        while index < text.count {
            if index + needle.count <= text.count, text[index] == needle[0],
               text[index..<index + needle.count].elementsEqual(needle) {
                result.append(contentsOf: replacement.utf8)
                index += needle.count
            } else {
                result.append(text[index])
                index += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
