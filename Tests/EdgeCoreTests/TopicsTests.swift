import Testing
@testable import EdgeCore

@Suite struct TopicsTests {
    let topics = Topics(thing: "dev1")

    @Test func fixedTopics() {
        #expect(topics.root == "edge/things/dev1")
        #expect(topics.deployment == "edge/things/dev1/deployment")
        #expect(topics.deploymentStatus == "edge/things/dev1/deployment/status")
        #expect(topics.health == "edge/things/dev1/health")
        #expect(topics.events == "edge/things/dev1/events")
        #expect(topics.invokeFilter == "edge/things/dev1/functions/+/invoke")
        #expect(topics.results(function: "digits") == "edge/things/dev1/functions/digits/results")
        #expect(topics.invoke(function: "digits") == "edge/things/dev1/functions/digits/invoke")
        #expect(Topics.groupDeployment("cams") == "edge/groups/cams/deployment")
    }

    @Test func invokeFilterMatchesInvokeTopic() throws {
        let filter = try #require(TopicFilter(topics.invokeFilter))
        #expect(filter.matches(topics.invoke(function: "digits")))
        #expect(!filter.matches(topics.results(function: "digits")))
    }

    @Test(arguments: [
        ("edge/things/dev1/functions/digits/invoke", "digits"),
        ("edge/things/dev1/functions/a_b-c/invoke", "a_b-c"),
        ("edge/things/dev1/functions/invoke/invoke", "invoke"),
    ])
    func functionInvokedRecognisesInvokeTopics(_ topic: String, _ name: String) {
        #expect(topics.functionInvoked(by: topic) == name)
    }

    @Test(arguments: [
        "edge/things/dev1/functions//invoke",
        "edge/things/dev1/functions/invoke",
        "edge/things/dev1/functions/a/b/invoke",
        "edge/things/dev2/functions/digits/invoke",
        "edge/things/dev1/functions/digits/results",
        "edge/things/dev1/functions/digits/invoke/x",
        "edge/things/dev10/functions/digits/invoke",
        "edge/things/dev/functions/digits/invoke",
        "xedge/things/dev1/functions/digits/invoke",
        "edge/things/dev1/deployment",
        "",
    ])
    func functionInvokedRejectsOtherTopics(_ topic: String) {
        #expect(topics.functionInvoked(by: topic) == nil)
    }

    @Test func invokeRoundTrip() {
        #expect(topics.functionInvoked(by: topics.invoke(function: "fn-1")) == "fn-1")
    }

    @Test(arguments: [
        ("edge/groups/cams/deployment", "cams"),
        ("edge/groups/a:b_c-d/deployment", "a:b_c-d"),
    ])
    func groupOfDeploymentTopic(_ topic: String, _ group: String) {
        #expect(Topics.group(ofDeploymentTopic: topic) == group)
        #expect(Topics.group(ofDeploymentTopic: Topics.groupDeployment(group)) == group)
    }

    @Test(arguments: [
        "edge/groups/cams/deployment/status",
        "edge/groups/cams",
        "edge/things/dev1/deployment",
        "edge/groups/a/b/deployment",
        "/edge/groups/cams/deployment",
        "Edge/groups/cams/deployment",
        "edge/groups/cams/deployments",
        "",
    ])
    func notAGroupDeploymentTopic(_ topic: String) {
        #expect(Topics.group(ofDeploymentTopic: topic) == nil)
    }

    @Test(arguments: [
        ("edge/things/{thing}/alerts", "edge/things/dev1/alerts"),
        ("{thing}/{thing}", "dev1/dev1"),
        ("{thing}", "dev1"),
        ("no/template", "no/template"),
        ("{thing", "{thing"),
        ("{Thing}", "{Thing}"),
        ("{{thing}}", "{dev1}"),
        ("", ""),
    ])
    func expand(_ template: String, _ expected: String) {
        #expect(topics.expand(template) == expected)
    }

    @Test func expandWithThingNameContainingTheTemplate() {
        // The replacement is not rescanned.
        #expect(Topics(thing: "{thing}").expand("a/{thing}/b") == "a/{thing}/b")
    }

    @Test func replacingAll() {
        #expect("aaa".replacingAll("a", with: "bb") == "bbbbbb")
        #expect("aaaa".replacingAll("aa", with: "x") == "xx")
        #expect("abc".replacingAll("", with: "x") == "abc")
        #expect("héllo wörld".replacingAll("ö", with: "o") == "héllo world")
        #expect("abc".replacingAll("abc", with: "") == "")
    }
}
