/// Where the outside world may make the agent publish, and what a function may listen to: the
/// agent's own topics are its control plane, and no event may reach into it (see docs/topics.md,
/// "Topics a reply or a subscription may not use").
public enum TopicConfinement {
    /// Why the agent will not publish an invocation's answer to `topic`, a reply topic that came
    /// with an event (MQTT 5 response topic or the event's `replyTo`), or nil when it will.
    /// Refused: anything that cannot be published to, topics that start with `$` (the broker's
    /// `$SYS`, AWS IoT's `$aws` shadows and jobs) and the whole `edge/` namespace (this thing's
    /// deployment, status, health, events and functions, and every other thing's and group's).
    public static func replyProblem(_ topic: String) -> String? {
        if let problem = TopicName.problem(in: topic) { return problem }
        if topic.hasPrefix("$") {
            return "topics that start with '$' are reserved (the broker's $SYS, AWS IoT's $aws)"
        }
        if topic == "edge" || topic.hasPrefix("edge/") {
            return "the edge/ namespace carries the agents' deployments, statuses, health and events; reply to a topic of your own (edgectl uses edgectl/replies/THING/ID, which the shipped ACL lets the device write)"
        }
        let levels = topic.split(separator: "/", maxSplits: 4, omittingEmptySubsequences: false)
        if levels.count >= 4, levels[1] == "things", levels[3] == "shadow" {
            return "ROOT/things/THING/shadow/... carries device shadows (under shadows.topicRoot where $ topics are refused); reply to a topic of your own"
        }
        return nil
    }

    /// Why a function may not publish to `topic` itself (runtime-protocol `publish`), whatever its
    /// allow-list: the `edge/` namespace is the agents' control plane (deployments, statuses,
    /// health, events, invocations and the control topic, of this thing and every other).
    public static func functionPublishProblem(_ topic: String) -> String? {
        guard topic == "edge" || topic.hasPrefix("edge/") else { return nil }
        return "the edge/ namespace is the agents' control plane (deployments, health, events, invocations, control), "
            + "which a function never publishes to; its results go out on its output topic"
    }

    /// The topics a function must never receive as events: the agent's own control messages.
    public static func controlFilters(_ topics: Topics) -> [TopicFilter] {
        [topics.deployment, topics.deploymentStatus, topics.health, topics.events, topics.invokeFilter, topics.control,
         "edge/groups/+/deployment", "$aws/things/\(topics.thing)/shadow/#",
         "\(topics.shadowRoot)/things/\(topics.thing)/shadow/#"].compactMap(TopicFilter.init)
    }

    /// Why a function may not subscribe to `filter`, or nil: a filter that takes in the agent's
    /// control topics would hand the function deployments, statuses, health and invocations meant
    /// for others; one that takes in the function's own output (but is not that topic itself, a
    /// loop asked for by name) would invoke it again with each of its results.
    public static func subscriptionProblem(_ filter: TopicFilter, topics: Topics, output: String) -> String? {
        if let control = controlFilters(topics).first(where: { filter.overlaps($0) }) {
            return "'\(filter.text)' takes in the agent's own topics (\(control.text)): subscribe to the topics your events come on, such as sensors/#"
        }
        if filter.text != output, filter.matches(output) {
            return "'\(filter.text)' takes in the function's own results (\(output)), so each result would invoke it again; subscribe to that topic by its exact name if that loop is what you want"
        }
        return nil
    }
}
