import Testing
@testable import EdgeCore

private let topics = ShadowTopics(thing: "dev1")

private func publishes(_ effects: [CloudShadowClient.Effect]) -> [(String, JSONValue)] {
    effects.compactMap { if case .publish(let topic, let payload) = $0 { (topic, payload) } else { nil } }
}

private func token(_ effects: [CloudShadowClient.Effect]) -> String {
    publishes(effects).first?.1["clientToken"]?.stringValue ?? "(none)"
}

@Suite struct CloudShadowClientTests {
    @Test func itFetchesOnConnectAndAdoptsWhatTheServiceHas() {
        var client = CloudShadowClient(topics: topics)
        let sent = client.connected(nowMs: 0)
        #expect(publishes(sent).map(\.0) == ["$aws/things/dev1/shadow/get"])
        #expect(client.connected(nowMs: 1).isEmpty, "one fetch of the same shadow at a time")
        let document: JSONValue = ["state": ["desired": ["a": 1], "reported": ["a": 0]], "version": 7, "timestamp": 5,
                                   "clientToken": .string(token(sent))]
        let effects = client.received(topic: "$aws/things/dev1/shadow/get/accepted", payload: document, nowMs: 2)
        guard case .document(nil, let adopted, nil) = effects.first else {
            Issue.record("\(effects)")
            return
        }
        #expect(adopted.version == 7 && adopted.desired == ["a": 1] && adopted.reported == ["a": 0] && adopted.exists)
        #expect(!client.hasPending)
    }

    @Test func noShadowYetIsAnEmptyOne() {
        var client = CloudShadowClient(topics: topics)
        let sent = client.connected(nowMs: 0)
        let effects = client.received(topic: "$aws/things/dev1/shadow/get/rejected",
                                      payload: ["code": 404, "message": "No shadow", "clientToken": .string(token(sent))], nowMs: 1)
        guard case .document(nil, let empty, _) = effects.first else {
            Issue.record("\(effects)")
            return
        }
        #expect(!empty.exists && empty.version == 0)
    }

    @Test func aDeltaFetchesTheWholeDocumentAndCarriesWhatChanged() {
        var client = CloudShadowClient(topics: topics)
        let effects = client.received(topic: "$aws/things/dev1/shadow/update/delta",
                                      payload: ["state": ["functions": ["f": ["enabled": true]]], "version": 3], nowMs: 0)
        #expect(publishes(effects).map(\.0) == ["$aws/things/dev1/shadow/get"])
        let answer = client.received(topic: "$aws/things/dev1/shadow/get/accepted",
                                     payload: ["state": [:], "version": 3, "clientToken": .string(token(effects))], nowMs: 1)
        guard case .document(nil, _, let change) = answer.first else {
            Issue.record("\(answer)")
            return
        }
        #expect(change == ["functions": ["f": ["enabled": true]]])
    }

    @Test func answersAreMatchedByTheAgentsTokenAndOthersAreIgnored() {
        var client = CloudShadowClient(topics: topics)
        let sent = client.update("counter", fields: ["state": ["reported": ["n": 1]], "version": 4], origin: .function(9), nowMs: 0)
        let (topic, payload) = publishes(sent)[0]
        #expect(topic == "$aws/things/dev1/shadow/name/counter/update")
        #expect(payload["version"] == 4 && payload["state"]?["reported"]?["n"] == 1)
        // Someone else's answer, and ours on another shadow's topic: not ours.
        #expect(client.received(topic: "$aws/things/dev1/shadow/name/counter/update/accepted", payload: ["clientToken": "other"], nowMs: 1).isEmpty)
        #expect(client.received(topic: "$aws/things/dev1/shadow/update/accepted", payload: ["clientToken": .string(token(sent))], nowMs: 1).isEmpty)
        #expect(client.received(topic: "$aws/things/dev2/shadow/name/counter/update/accepted", payload: ["clientToken": .string(token(sent))], nowMs: 1).isEmpty)
        let effects = client.received(topic: "$aws/things/dev1/shadow/name/counter/update/rejected",
                                      payload: ["code": 409, "message": "Version conflict", "clientToken": .string(token(sent))], nowMs: 2)
        #expect(effects == [.answer(.init(name: "counter", operation: .update, origin: .function(9), accepted: false,
                                          payload: ["code": 409, "message": "Version conflict", "clientToken": .string(token(sent))]))])
        #expect(effects.first.map { if case .answer(let a) = $0 { a.errorCode == 409 } else { false } } == true)
    }

    @Test func unansweredRequestsAreAnsweredForTheServiceAfterTheTimeout() {
        var client = CloudShadowClient(topics: topics)
        _ = client.fetch("counter", origin: .function(1), nowMs: 0)
        #expect(client.expire(nowMs: CloudShadowClient.timeoutMs - 1).isEmpty)
        let late = client.expire(nowMs: CloudShadowClient.timeoutMs)
        guard case .answer(let answer) = late.first else {
            Issue.record("\(late)")
            return
        }
        #expect(answer.errorCode == 504 && answer.origin == .function(1) && !client.hasPending)
        _ = client.connected(nowMs: 0)
        #expect(client.disconnected().count == 1, "a disconnect answers what is pending")
    }

    @Test func anAcceptedUpdateMergesIntoTheCopy() {
        var document = ShadowDocument()
        document.reported = ["agent": ["logLevel": "info"], "x": 1]
        document.version = 4
        let merged = document.merging(accepted: ["state": ["reported": ["agent": ["logLevel": "debug"], "x": .null]], "version": 5])
        #expect(merged.reported == ["agent": ["logLevel": "debug"]] && merged.version == 5 && merged.exists)
    }

    @Test func anotherRootAndTheConfinementThatFollowsIt() {
        let other = ShadowTopics(thing: "dev1", root: "shadows")
        #expect(other.request("shadows/things/dev1/shadow/update")?.operation == .update)
        #expect(other.request("$aws/things/dev1/shadow/update") == nil)
        #expect(other.reply("shadows/things/dev1/shadow/name/n1/get/accepted")! == ("n1", "get/accepted"))
        #expect(TopicConfinement.replyProblem("shadows/things/dev1/shadow/update") != nil)
        #expect(TopicConfinement.replyProblem("replies/things/x") == nil)
        let filter = TopicFilter("shadows/things/dev1/shadow/#")!
        #expect(TopicConfinement.subscriptionProblem(filter, topics: Topics(thing: "dev1", shadowRoot: "shadows"), output: "out") != nil)
        #expect(TopicConfinement.subscriptionProblem(TopicFilter("sensors/#")!, topics: Topics(thing: "dev1", shadowRoot: "shadows"), output: "out") == nil)
    }
}
