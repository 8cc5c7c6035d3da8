/// The topics of the AWS IoT Device Shadow MQTT API for one thing:
/// `$aws/things/{thing}/shadow[/name/{shadow}]/{get,update,delete}` and their replies, under
/// `$aws` or another root of one level (`shadows.topicRoot`, for brokers that refuse `$` topics).
public struct ShadowTopics: Sendable {
    public let thing: String
    public let root: String
    /// `$aws/things/{thing}/shadow`, built once: every message the agent receives is checked against it.
    public let classicPrefix: String
    private let requestPrefix: String
    private let firstByte: UInt8?

    public init(thing: String, root: String = "$aws") {
        self.thing = thing
        self.root = root
        classicPrefix = "\(root)/things/\(thing)/shadow"
        requestPrefix = classicPrefix + "/"
        firstByte = root.utf8.first
    }

    public func prefix(_ name: String?) -> String {
        name.map { "\(classicPrefix)/name/\($0)" } ?? classicPrefix
    }

    /// The request filters the agent subscribes to, classic and named: one level below the
    /// shadow (`get`, `update`, `delete`), so not the replies, which are a level deeper. Two
    /// filters, not six: on NATS every subscription is a JetStream consumer, and a fleet's add up.
    public var requestFilters: [String] {
        ["\(classicPrefix)/+", "\(classicPrefix)/name/+/+"]
    }

    /// A request topic read back: the shadow (nil for classic), the operation, and a problem
    /// with the name when it breaks AWS's rules (1 to 64 of letters, digits, ':', '_', '-').
    public func request(_ topic: String) -> (name: String?, operation: ShadowBook.Operation, problem: String?)? {
        guard topic.utf8.first == firstByte, topic.hasPrefix(requestPrefix) else { return nil }
        let parts = topic.dropFirst(requestPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 1, let operation = ShadowBook.Operation(rawValue: String(parts[0])) {
            return (nil, operation, nil)
        }
        guard parts.count == 3, parts[0] == "name", let operation = ShadowBook.Operation(rawValue: String(parts[2])) else { return nil }
        let name = String(parts[1])
        return (name, operation, ShadowTopics.nameProblem(name))
    }

    /// A shadow named by a reply topic (`…/shadow[/name/{shadow}]/{operation}/{accepted,rejected,delta,documents}`),
    /// for a device client of the shadow service: the shadow (nil for classic) and what follows it.
    public func reply(_ topic: String) -> (name: String?, suffix: String)? {
        guard topic.utf8.first == firstByte, topic.hasPrefix(requestPrefix) else { return nil }
        let rest = topic.dropFirst(requestPrefix.count)
        if rest.hasPrefix("name/") {
            let parts = rest.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[1].isEmpty else { return nil }
            return (String(parts[1]), String(parts[2]))
        }
        return (nil, String(rest))
    }

    public static func nameProblem(_ name: String) -> String? {
        NameRule.check(name, extra: ":_-", what: "a shadow name", maxLength: ShadowLimits.maxNameBytes)
    }
}
