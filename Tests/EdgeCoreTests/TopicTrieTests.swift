import Testing
@testable import EdgeCore

@Suite struct TopicTrieTests {
    static let filters = ["sensors/+/digits", "sensors/#", "#", "+/+", "a/b", "a/+/c", "a/#", "$SYS/#", "+/b", "x//y", "/+"]
    static let topics = ["sensors/cam1/digits", "sensors", "sensors/cam1", "a/b", "a", "a/x/c", "a/b/c/d", "$SYS/broker",
                         "$SYS", "x//y", "/z", "", "b", "q/b"]

    /// The trie answers exactly what matching every filter one by one answers.
    @Test(arguments: topics)
    func agreesWithTopicFilterMatching(_ topic: String) {
        var trie = TopicTrie<String>()
        for filter in Self.filters { trie.insert(TopicFilter(filter)!, filter) }
        let expected = Set(Self.filters.filter { TopicFilter($0)!.matches(topic) })
        #expect(Set(trie.matches(topic)) == expected, "topic '\(topic)'")
        #expect(trie.matches(topic).count == expected.count)
    }

    @Test func aValueReachedByTwoFiltersIsReturnedOnce() {
        var trie = TopicTrie<String>()
        trie.insert(TopicFilter("sensors/#")!, "f")
        trie.insert(TopicFilter("sensors/+")!, "f")
        trie.insert(TopicFilter("sensors/+")!, "g")
        #expect(trie.matches("sensors/a") == ["f", "g"])
        #expect(trie.count == 3)
    }

    @Test func anEmptyTrieMatchesNothing() {
        #expect(TopicTrie<Int>().matches("a/b").isEmpty)
    }
}
