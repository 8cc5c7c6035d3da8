/// The topics of the AWS IoT Device Shadow MQTT API for one thing:
/// `$aws/things/{thing}/shadow[/name/{shadow}]/{get,update,delete}` and their replies.
public struct ShadowTopics: Sendable {
    public let thing: String
    /// `$aws/things/{thing}/shadow`, built once: every message the agent receives is checked against it.
    public let classicPrefix: String
    private let requestPrefix: String

    public init(thing: String) {
        self.thing = thing
        classicPrefix = "$aws/things/\(thing)/shadow"
        requestPrefix = classicPrefix + "/"
    }

    public func prefix(_ name: String?) -> String {
        name.map { "\(classicPrefix)/name/\($0)" } ?? classicPrefix
    }

    /// The request filters the agent subscribes to: each operation, classic and named.
    public var requestFilters: [String] {
        ShadowBook.Operation.allCases.flatMap { ["\(classicPrefix)/\($0.rawValue)", "\(classicPrefix)/name/+/\($0.rawValue)"] }
    }

    /// A request topic read back: the shadow (nil for classic), the operation, and a problem
    /// with the name when it breaks AWS's rules (1 to 64 of letters, digits, ':', '_', '-').
    public func request(_ topic: String) -> (name: String?, operation: ShadowBook.Operation, problem: String?)? {
        guard topic.utf8.first == UInt8(ascii: "$"), topic.hasPrefix(requestPrefix) else { return nil }
        let parts = topic.dropFirst(requestPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 1, let operation = ShadowBook.Operation(rawValue: String(parts[0])) {
            return (nil, operation, nil)
        }
        guard parts.count == 3, parts[0] == "name", let operation = ShadowBook.Operation(rawValue: String(parts[2])) else { return nil }
        let name = String(parts[1])
        return (name, operation, ShadowTopics.nameProblem(name))
    }

    public static func nameProblem(_ name: String) -> String? {
        NameRule.check(name, extra: ":_-", what: "a shadow name", maxLength: ShadowLimits.maxNameBytes)
    }
}
