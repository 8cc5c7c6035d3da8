/// An MQTT topic filter (`+` one level, `#` the rest), validated as MQTT 3.1.1 / 5 define it.
public struct TopicFilter: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    private let levels: [Substring]

    /// Why a filter is not valid, or nil when it is.
    public static func problem(in text: String) -> String? {
        if text.isEmpty { return "a topic filter cannot be empty" }
        if text.utf8.count > 65535 { return "a topic filter is at most 65535 bytes" }
        if text.contains("\u{0}") { return "a topic filter cannot contain a NUL character" }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            if part.contains("#") && (part != "#" || index != parts.count - 1) {
                return "'#' must be a whole level and the last one"
            }
            if part.contains("+") && part != "+" { return "'+' must be a whole level" }
        }
        return nil
    }

    public init?(_ text: String) {
        guard TopicFilter.problem(in: text) == nil else { return nil }
        self.text = text
        self.levels = text.split(separator: "/", omittingEmptySubsequences: false)
    }

    public var description: String { text }

    public static func == (lhs: TopicFilter, rhs: TopicFilter) -> Bool { lhs.text == rhs.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }

    /// Whether a concrete topic matches, including the rule that wildcards at the first level
    /// do not match topics that start with `$` (MQTT 4.7.2).
    public func matches(_ topic: String) -> Bool {
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = levels.first, first == "+" || first == "#" { return false }
        var index = 0
        for level in levels {
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+" && level != topicLevels[index] { return false }
            index += 1
        }
        return index == topicLevels.count
    }

    /// Whether some topic matches both this filter and `other` (MQTT 4.7.2's `$` rule included).
    public func overlaps(_ other: TopicFilter) -> Bool {
        let (mine, theirs) = (levels, other.levels)
        func reservedFirst(_ levels: [Substring]) -> Bool { levels.first?.hasPrefix("$") == true }
        func wildFirst(_ levels: [Substring]) -> Bool { levels.first == "+" || levels.first == "#" }
        // A `$` topic is matched only by filters that name its first level.
        if (reservedFirst(mine) && wildFirst(theirs)) || (reservedFirst(theirs) && wildFirst(mine)) { return false }
        var index = 0
        while index < mine.count && index < theirs.count {
            let (a, b) = (mine[index], theirs[index])
            if a == "#" || b == "#" { return true }
            if a != "+" && b != "+" && a != b { return false }
            index += 1
        }
        if mine.count == theirs.count { return true }
        // One is longer: only a `#` right after the other's last level matches that same topic
        // (`a/#` matches `a`).
        let longer = mine.count > theirs.count ? mine : theirs
        return longer.count == index + 1 && longer[index] == "#"
    }
}

/// Rules for a concrete topic that a message is published to.
public enum TopicName {
    /// Why a topic cannot be published to, or nil when it can.
    public static func problem(in topic: String) -> String? {
        if topic.isEmpty { return "a topic cannot be empty" }
        if topic.utf8.count > 65535 { return "a topic is at most 65535 bytes" }
        if topic.contains("+") || topic.contains("#") { return "a topic to publish to cannot contain '+' or '#'" }
        if topic.contains("\u{0}") { return "a topic cannot contain a NUL character" }
        return nil
    }
}
