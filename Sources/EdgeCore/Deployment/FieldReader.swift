/// Walks a JSON object field by field, recording every problem with its path instead of
/// stopping at the first, so one REJECTED status tells the operator everything to fix.
public final class FieldReader {
    public private(set) var issues: [ValidationIssue] = []

    public init() {}

    public func fail(_ path: String, _ value: JSONValue?, _ message: String) {
        issues.append(ValidationIssue(path: path, value: value?.excerpt(), message: message))
    }

    public static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The members of an object, or nil (with an issue) when `value` is not an object.
    public func object(_ value: JSONValue?, at path: String) -> [String: JSONValue]? {
        guard let value else { return nil }
        guard let members = value.objectValue else {
            fail(path, value, "must be an object, not \(value.typeName)")
            return nil
        }
        return members
    }

    /// Reports every member not in `known`, naming the fields that are allowed.
    public func rejectUnknown(_ members: [String: JSONValue], known: [String], at path: String) {
        for key in members.keys.sorted() where !known.contains(key) {
            fail(Self.join(path, key), nil, "unknown field; allowed here: \(known.joined(separator: ", "))")
        }
    }

    public func required(_ members: [String: JSONValue], _ key: String, at path: String) -> JSONValue? {
        guard let value = members[key] else {
            fail(Self.join(path, key), nil, "is required")
            return nil
        }
        return value
    }

    public func string(_ value: JSONValue?, at path: String, maxLength: Int = 1024,
                       rule: ((String) -> String?)? = nil) -> String? {
        guard let value else { return nil }
        guard let text = value.stringValue else {
            fail(path, value, "must be a string, not \(value.typeName)")
            return nil
        }
        if text.isEmpty { fail(path, value, "cannot be empty"); return nil }
        if text.utf8.count > maxLength { fail(path, .string(String(text.prefix(40))), "is longer than \(maxLength) bytes"); return nil }
        if let rule, let problem = rule(text) { fail(path, value, problem); return nil }
        return text
    }

    public func integer(_ value: JSONValue?, at path: String, range: ClosedRange<Int64>) -> Int64? {
        guard let value else { return nil }
        guard let number = value.intValue else {
            fail(path, value, "must be a whole number between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        guard range.contains(number) else {
            fail(path, value, "is out of range; use a value between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    public func number(_ value: JSONValue?, at path: String, range: ClosedRange<Double>) -> Double? {
        guard let value else { return nil }
        guard let number = value.doubleValue, number.isFinite else {
            fail(path, value, "must be a number between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        guard range.contains(number) else {
            fail(path, value, "is out of range; use a value between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    public func bool(_ value: JSONValue?, at path: String) -> Bool? {
        guard let value else { return nil }
        guard let flag = value.boolValue else {
            fail(path, value, "must be true or false, not \(value.typeName)")
            return nil
        }
        return flag
    }

    public func oneOf(_ value: JSONValue?, at path: String, _ choices: [String]) -> String? {
        guard let text = string(value, at: path) else { return nil }
        guard choices.contains(text) else {
            fail(path, value, "must be one of: \(choices.map { "\"\($0)\"" }.joined(separator: ", "))")
            return nil
        }
        return text
    }

    public func array(_ value: JSONValue?, at path: String, maxCount: Int) -> [JSONValue]? {
        guard let value else { return nil }
        guard let items = value.arrayValue else {
            fail(path, value, "must be an array, not \(value.typeName)")
            return nil
        }
        if items.count > maxCount { fail(path, nil, "has \(items.count) items; at most \(maxCount) are allowed"); return nil }
        return items
    }
}

/// Character-class rules shared by names in documents and configuration.
public enum NameRule {
    /// `nil` when every character of `text` is an ASCII letter, digit or one of `extra`.
    public static func check(_ text: String, extra: String, what: String, maxLength: Int) -> String? {
        if text.isEmpty || text.utf8.count > maxLength {
            return "\(what) must be 1 to \(maxLength) characters"
        }
        for scalar in text.unicodeScalars {
            let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
                || (scalar >= "0" && scalar <= "9") || extra.unicodeScalars.contains(scalar)
            if !ok { return "\(what) may contain only letters, digits and \(extra.map { "'\($0)'" }.joined(separator: " "))" }
        }
        return nil
    }

    public static func thingName(_ text: String) -> String? {
        check(text, extra: ":_-", what: "a thing name", maxLength: 128)
    }

    public static func groupName(_ text: String) -> String? {
        check(text, extra: ":_-", what: "a group name", maxLength: 128)
    }

    public static func functionName(_ text: String) -> String? {
        check(text, extra: "_-", what: "a function name", maxLength: 64)
    }
}
