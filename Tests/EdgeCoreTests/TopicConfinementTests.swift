import Testing
@testable import EdgeCore

@Suite struct TopicOverlapTests {
    static let table: [(String, String, Bool)] = [
        ("a/b", "a/b", true), ("a/b", "a/c", false), ("a/b", "a/b/c", false),
        ("a/+", "a/b", true), ("+/b", "a/+", true), ("a/+", "b/+", false),
        ("#", "a/b", true), ("a/#", "a", true), ("a/#", "a/b/c", true), ("a/#", "b", false),
        ("a/b/#", "a/+", true), ("a/b/#", "a/c/#", false), ("+/+", "a", false), ("+/#", "a", true),
        ("edge/#", "edge/things/dev1/health", true), ("+/things/+/health", "edge/things/dev1/health", true),
        ("sensors/#", "edge/things/dev1/health", false),
        // '$' topics are reached only by a filter that names their first level (MQTT 4.7.2).
        ("#", "$aws/things/dev1/shadow/#", false), ("+/things/#", "$aws/things/dev1/shadow/#", false),
        ("$aws/#", "$aws/things/dev1/shadow/#", true), ("$aws/things/+/shadow/update", "$aws/things/dev1/shadow/#", true),
    ]

    @Test(arguments: table)
    func overlapIsSymmetric(_ a: String, _ b: String, _ expected: Bool) throws {
        let (x, y) = (try #require(TopicFilter(a)), try #require(TopicFilter(b)))
        #expect(x.overlaps(y) == expected, "\(a) and \(b)")
        #expect(y.overlaps(x) == expected, "\(b) and \(a)")
    }
}

@Suite struct TopicConfinementTests {
    @Test(arguments: ["replies/dev1/42", "edgectl/replies/77", "app/edge/x", "edges/x", "a"])
    func repliesGoWhereAnyoneMayBeAnswered(_ topic: String) {
        #expect(TopicConfinement.replyProblem(topic) == nil)
    }

    @Test(arguments: [
        ("edge/things/dev1/deployment", "the edge/ namespace"),
        ("edge/things/dev1/deployment/status", "the edge/ namespace"),
        ("edge/things/other/functions/f/invoke", "the edge/ namespace"),
        ("edge/groups/g/deployment", "the edge/ namespace"),
        ("edge", "the edge/ namespace"),
        ("$aws/things/dev1/shadow/update", "reserved"),
        ("$SYS/broker/clients", "reserved"),
        ("replies/#", "cannot contain '+' or '#'"),
        ("", "cannot be empty"),
    ])
    func repliesIntoTheControlPlaneAreRefused(_ topic: String, _ says: String) throws {
        let problem = try #require(TopicConfinement.replyProblem(topic))
        #expect(problem.contains(says), "\(problem)")
    }

    static let topics = Topics(thing: "dev1")
    static let output = "edge/things/dev1/functions/a/results"

    @Test(arguments: ["#", "edge/#", "edge/things/dev1/#", "edge/things/+/health", "+/things/dev1/deployment",
                      "edge/things/dev1/functions/+/invoke", "edge/groups/#", "$aws/things/dev1/shadow/#",
                      "$aws/things/+/shadow/update/delta"])
    func subscriptionsIntoTheAgentsTopicsAreRefused(_ text: String) throws {
        let problem = try #require(TopicConfinement.subscriptionProblem(TopicFilter(text)!, topics: Self.topics, output: Self.output))
        #expect(problem.contains("takes in the agent's own topics"), "\(problem)")
    }

    @Test(arguments: ["edge/things/dev1/functions/+/results", "edge/things/+/functions/a/results"])
    func subscriptionsThatTakeInTheFunctionsOwnResultsAreRefused(_ text: String) throws {
        let problem = try #require(TopicConfinement.subscriptionProblem(TopicFilter(text)!, topics: Self.topics, output: Self.output))
        #expect(problem.contains("own results"), "\(problem)")
    }

    @Test(arguments: ["sensors/#", "+/temperature", "edge/things/dev1/functions/b/results", output,
                      "edge/things/other/health", "$aws/things/other/shadow/update/accepted"])
    func otherSubscriptionsAreAllowed(_ text: String) {
        #expect(TopicConfinement.subscriptionProblem(TopicFilter(text)!, topics: Self.topics, output: Self.output) == nil)
    }
}

@Suite struct SubscriptionConfinementInDeploymentsTests {
    @Test func aSubscriptionIntoTheAgentsTopicsRejectsTheDeploymentNamingTheField() throws {
        let found = issues(ofFunction: function(["subscriptions": [["topic": "sensors/#"], ["topic": "edge/#"]]]))
        #expect(found.map(\.path) == ["functions.a.subscriptions[1].topic"])
        #expect(found.first?.value == "\"edge/#\"")
        #expect(found.first?.message.contains("takes in the agent's own topics") == true)
    }

    @Test func aSubscriptionToItsOwnOutputTopicByWildcardIsRejected() throws {
        let fields = function(["subscriptions": [["topic": "out/+"]], "output": ["topic": "out/{function}"]])
        let found = issues(ofFunction: fields)
        #expect(found.map(\.path) == ["functions.a.subscriptions[0].topic"])
        #expect(found.first?.message.contains("out/a") == true)
    }

    @Test func chainingOnAnotherFunctionsResultsIsAllowed() {
        let fields = function(["subscriptions": [["topic": "edge/things/dev1/functions/b/results"]]])
        #expect(issues(ofFunction: fields).isEmpty)
    }
}
