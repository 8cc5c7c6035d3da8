import Testing
@testable import EdgeCore

@Suite struct TopicFilterTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var filter: String
        var topic: String
        var matches: Bool
        var testDescription: String { "\(filter) \(matches ? "matches" : "does not match") \(topic)" }
        init(_ filter: String, _ topic: String, _ matches: Bool) {
            self.filter = filter
            self.topic = topic
            self.matches = matches
        }
    }

    static let table: [Case] = [
        // Exact levels.
        Case("a/b/c", "a/b/c", true),
        Case("a/b/c", "a/b", false),
        Case("a/b", "a/b/c", false),
        Case("a/b", "a/B", false),
        Case("a/b", "a/b/", false),
        Case("/a", "/a", true),
        Case("/a", "a", false),
        // '+' one level, at several positions.
        Case("+", "a", true),
        Case("+", "a/b", false),
        Case("+", "", true),
        Case("a/+", "a/b", true),
        Case("a/+", "a/", true),
        Case("a/+", "a", false),
        Case("a/+", "a/b/c", false),
        Case("+/b/+", "a/b/c", true),
        Case("+/b/+", "a/x/c", false),
        Case("+/+", "/x", true),
        Case("+/+/+", "a/b", false),
        Case("sensors/+/digits", "sensors/cam1/digits", true),
        Case("sensors/+/digits", "sensors/cam1/extra/digits", false),
        // '#' the rest, including the parent level itself.
        Case("#", "a", true),
        Case("#", "a/b/c", true),
        Case("#", "/", true),
        Case("a/#", "a", true),
        Case("a/#", "a/b", true),
        Case("a/#", "a/b/c/d", true),
        Case("a/#", "ab", false),
        Case("a/#", "b/a", false),
        Case("a/b/#", "a", false),
        Case("+/#", "a", true),
        Case("+/b/#", "x/b", true),
        Case("+/b/#", "x/c/b", false),
        // '$' topics: not matched by a wildcard in the first level (MQTT 4.7.2).
        Case("#", "$SYS/broker/uptime", false),
        Case("+/broker/uptime", "$SYS/broker/uptime", false),
        Case("+/#", "$SYS/x", false),
        Case("$SYS/#", "$SYS/broker/uptime", true),
        Case("$SYS/+/uptime", "$SYS/broker/uptime", true),
        Case("a/+", "a/$x", true),
        Case("a/#", "a/$SYS", true),
    ]

    @Test(arguments: table)
    func matching(_ c: Case) throws {
        let filter = try #require(TopicFilter(c.filter))
        #expect(filter.matches(c.topic) == c.matches)
    }

    @Test(arguments: [
        ("", "a topic filter cannot be empty"),
        ("a/#/b", "'#' must be a whole level and the last one"),
        ("#/a", "'#' must be a whole level and the last one"),
        ("a#", "'#' must be a whole level and the last one"),
        ("a/b#", "'#' must be a whole level and the last one"),
        ("##", "'#' must be a whole level and the last one"),
        ("a+", "'+' must be a whole level"),
        ("+a/b", "'+' must be a whole level"),
        ("a/++", "'+' must be a whole level"),
        ("a/\u{0}", "a topic filter cannot contain a NUL character"),
    ])
    func invalidFilters(_ text: String, _ problem: String) {
        #expect(TopicFilter.problem(in: text) == problem)
        #expect(TopicFilter(text) == nil)
    }

    @Test(arguments: ["#", "+", "/", "a//b", "+/+/#", "$SYS/#", "a/+/c/#", "ünïcode/+"])
    func validFilters(_ text: String) {
        #expect(TopicFilter.problem(in: text) == nil)
        #expect(TopicFilter(text)?.text == text)
        #expect(TopicFilter(text)?.description == text)
    }

    @Test func lengthLimitIsInBytes() {
        let atLimit = String(repeating: "a", count: 65535)
        #expect(TopicFilter.problem(in: atLimit) == nil)
        #expect(TopicFilter.problem(in: atLimit + "a") == "a topic filter is at most 65535 bytes")
        // 'é' is two bytes in UTF-8.
        #expect(TopicFilter.problem(in: String(repeating: "é", count: 32768)) == "a topic filter is at most 65535 bytes")
    }

    @Test func equalityAndHashingFollowTheText() {
        let set: Set<TopicFilter> = [TopicFilter("a/+")!, TopicFilter("a/+")!, TopicFilter("a/#")!]
        #expect(set.count == 2)
        #expect(TopicFilter("a/+") == TopicFilter("a/+"))
        #expect(TopicFilter("a/+") != TopicFilter("a/#"))
    }
}

@Suite struct TopicNameTests {
    @Test(arguments: [
        ("", "a topic cannot be empty"),
        ("a/+/b", "a topic to publish to cannot contain '+' or '#'"),
        ("a/#", "a topic to publish to cannot contain '+' or '#'"),
        ("c++", "a topic to publish to cannot contain '+' or '#'"),
        ("a\u{0}b", "a topic cannot contain a NUL character"),
    ])
    func invalidTopics(_ topic: String, _ problem: String) {
        #expect(TopicName.problem(in: topic) == problem)
    }

    @Test(arguments: ["a", "/", "a//b", "$SYS/x", "edge/things/dev1/functions/a/results"])
    func validTopics(_ topic: String) {
        #expect(TopicName.problem(in: topic) == nil)
    }

    @Test func lengthLimit() {
        #expect(TopicName.problem(in: String(repeating: "t", count: 65535)) == nil)
        #expect(TopicName.problem(in: String(repeating: "t", count: 65536)) == "a topic is at most 65535 bytes")
    }
}
