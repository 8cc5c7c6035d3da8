/// Topic filters and what each leads to, matched against a topic level by level (a trie), so
/// routing a message costs the depth of its topic, not the number of filters.
public struct TopicTrie<Value: Hashable & Sendable>: Sendable {
    private struct Node: Sendable {
        var children: [Substring: Int] = [:]
        var plus: Int?
        /// Values of filters that end here.
        var values: [Value] = []
        /// Values of filters that end here with `/#` (they match this level and everything below).
        var rest: [Value] = []
    }

    private var nodes = [Node()]
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public mutating func insert(_ filter: TopicFilter, _ value: Value) {
        var node = 0
        for level in filter.text.split(separator: "/", omittingEmptySubsequences: false) {
            if level == "#" {
                nodes[node].rest.append(value)
                count += 1
                return
            }
            if level == "+" {
                if let next = nodes[node].plus {
                    node = next
                } else {
                    nodes.append(Node())
                    nodes[node].plus = nodes.count - 1
                    node = nodes.count - 1
                }
            } else if let next = nodes[node].children[level] {
                node = next
            } else {
                nodes.append(Node())
                nodes[node].children[level] = nodes.count - 1
                node = nodes.count - 1
            }
        }
        nodes[node].values.append(value)
        count += 1
    }

    /// The values of every filter that matches `topic`, each once, in the order first matched.
    /// Wildcards at the first level do not match topics that start with `$` (MQTT 4.7.2).
    public func matches(_ topic: String) -> [Value] {
        guard count > 0 else { return [] }
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        var found: [Value] = []
        collect(node: 0, levels: levels, index: 0, system: topic.hasPrefix("$"), into: &found)
        if found.count < 2 { return found }
        var seen = Set<Value>()
        return found.filter { seen.insert($0).inserted }
    }

    private func collect(node: Int, levels: [Substring], index: Int, system: Bool, into found: inout [Value]) {
        let here = nodes[node]
        let wildcardsAllowed = !(system && index == 0)
        if wildcardsAllowed { found += here.rest }
        if index == levels.count {
            found += here.values
            return
        }
        if let next = here.children[levels[index]] {
            collect(node: next, levels: levels, index: index + 1, system: system, into: &found)
        }
        if wildcardsAllowed, let next = here.plus {
            collect(node: next, levels: levels, index: index + 1, system: system, into: &found)
        }
    }
}
