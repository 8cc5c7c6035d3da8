import Testing
@testable import EdgeCore

@Suite struct ShadowTopicTests {
    let topics = ShadowTopics(thing: "t1")

    @Test func prefixes() {
        #expect(topics.classicPrefix == "$aws/things/t1/shadow")
        #expect(topics.prefix(nil) == "$aws/things/t1/shadow")
        #expect(topics.prefix("lamp") == "$aws/things/t1/shadow/name/lamp")
    }

    @Test func requestFiltersCoverEveryOperationClassicAndNamedButNoReply() {
        let filters = topics.requestFilters.compactMap(TopicFilter.init)
        #expect(filters.count == 2)
        for name in [nil, "lamp"] as [String?] {
            for operation in ShadowBook.Operation.allCases {
                let request = "\(topics.prefix(name))/\(operation.rawValue)"
                #expect(filters.contains { $0.matches(request) }, "\(request)")
                for reply in ["accepted", "rejected", "delta", "documents"] {
                    #expect(!filters.contains { $0.matches("\(request)/\(reply)") }, "\(request)/\(reply)")
                }
            }
        }
        let replies = CloudShadowClient(topics: topics).replyFilters.compactMap(TopicFilter.init)
        for name in [nil, "lamp"] as [String?] {
            #expect(replies.contains { $0.matches("\(topics.prefix(name))/update/delta") })
            #expect(!replies.contains { $0.matches("\(topics.prefix(name))/update") }, "a device client never hears requests")
        }
    }

    @Test(arguments: [
        ("$aws/things/t1/shadow/get", nil, ShadowBook.Operation.get),
        ("$aws/things/t1/shadow/update", nil, .update),
        ("$aws/things/t1/shadow/delete", nil, .delete),
        ("$aws/things/t1/shadow/name/lamp/get", "lamp", .get),
        ("$aws/things/t1/shadow/name/lamp/update", "lamp", .update),
        ("$aws/things/t1/shadow/name/lamp/delete", "lamp", .delete),
        ("$aws/things/t1/shadow/name/A-z_0:9/update", "A-z_0:9", .update),
        ("$aws/things/t1/shadow/name/name/get", "name", .get),
        ("$aws/things/t1/shadow/name/update/update", "update", .update),
    ] as [(String, String?, ShadowBook.Operation)])
    func requestTopic(_ topic: String, _ name: String?, _ operation: ShadowBook.Operation) throws {
        let parsed = try #require(topics.request(topic))
        #expect(parsed.name == name)
        #expect(parsed.operation == operation)
        #expect(parsed.problem == nil)
    }

    @Test(arguments: [
        "$aws/things/t1/shadow/update/accepted", "$aws/things/t1/shadow/update/rejected", "$aws/things/t1/shadow/update/delta",
        "$aws/things/t1/shadow/update/documents", "$aws/things/t1/shadow/get/accepted", "$aws/things/t1/shadow/delete/rejected",
        "$aws/things/t1/shadow/name/lamp/update/accepted", "$aws/things/t1/shadow/name/lamp/get/rejected",
        "$aws/things/t1/shadow/name/lamp/update/delta",
        "$aws/things/t1/shadow", "$aws/things/t1/shadow/", "$aws/things/t1/shadow/list", "$aws/things/t1/shadow/GET",
        "$aws/things/t1/shadow/get/", "$aws/things/t1/shadow/name/get", "$aws/things/t1/shadow/name/lamp",
        "$aws/things/t1/shadow/name/lamp/", "$aws/things/t1/shadow/name/lamp/list", "$aws/things/t1/shadow/names/lamp/get",
        "$aws/things/t2/shadow/get", "$aws/things/t10/shadow/get", "$aws/things/t/shadow/get", "aws/things/t1/shadow/get",
        "$aws/things/t1/get", "edge/things/t1/shadow/get", "",
    ])
    func notARequest(_ topic: String) {
        #expect(topics.request(topic) == nil)
    }

    @Test(arguments: [
        ("", "a shadow name must be 1 to 64 characters"),
        (String(repeating: "n", count: 65), "a shadow name must be 1 to 64 characters"),
        ("has.dot", "a shadow name may contain only letters, digits and ':' '_' '-'"),
        ("sp ace", "a shadow name may contain only letters, digits and ':' '_' '-'"),
        ("plus+", "a shadow name may contain only letters, digits and ':' '_' '-'"),
        ("hash#", "a shadow name may contain only letters, digits and ':' '_' '-'"),
        ("ümlaut", "a shadow name may contain only letters, digits and ':' '_' '-'"),
        ("$dollar", "a shadow name may contain only letters, digits and ':' '_' '-'"),
    ])
    func badNamesAreReportedWithTheOperation(_ name: String, _ problem: String) throws {
        let parsed = try #require(topics.request("$aws/things/t1/shadow/name/\(name)/update"))
        #expect(parsed.name == name)
        #expect(parsed.operation == .update)
        #expect(parsed.problem == problem)
    }

    @Test(arguments: ["a", "Z", "9", ":", "_", "-", String(repeating: "n", count: 64), "shadow-1_a:b"])
    func goodNames(_ name: String) {
        #expect(ShadowTopics.nameProblem(name) == nil)
    }

    @Test func thingNamesWithSeparatorsWork() throws {
        let topics = ShadowTopics(thing: "my:thing_1-a")
        let parsed = try #require(topics.request("$aws/things/my:thing_1-a/shadow/name/x/get"))
        #expect(parsed.name == "x")
        #expect(parsed.operation == .get)
    }
}
