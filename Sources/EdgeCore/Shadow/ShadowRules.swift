/// The rules of shadow documents as AWS IoT defines them: how an update merges into a section,
/// the metadata timestamps it leaves, and the delta between desired and reported.
public enum ShadowRules {
    /// `section` after `update`: `null` clears it; otherwise keys merge recursively, a `null`
    /// value deletes its key, and anything that is not an object (arrays too) replaces whole.
    public static func merge(_ section: [String: JSONValue]?, with update: JSONValue) -> [String: JSONValue]? {
        guard let members = update.objectValue else { return nil }
        return mergeObject(section ?? [:], members)
    }

    static func mergeObject(_ base: [String: JSONValue], _ update: [String: JSONValue]) -> [String: JSONValue] {
        var result = base
        for (key, value) in update {
            switch value {
            case .null:
                result[key] = nil
            case .object(let members):
                if case .object(let existing)? = result[key] {
                    result[key] = .object(mergeObject(existing, members))
                } else {
                    result[key] = withoutNulls(value)
                }
            default:
                result[key] = value
            }
        }
        return result
    }

    /// A value as stored: `null` members of objects removed (they only ever mean "delete").
    public static func withoutNulls(_ value: JSONValue) -> JSONValue {
        guard case .object(let members) = value else { return value }
        var kept: [String: JSONValue] = [:]
        for (key, member) in members where member != .null { kept[key] = withoutNulls(member) }
        return .object(kept)
    }

    /// The metadata of a value written at `timestamp`: `{"timestamp": t}` per leaf, objects
    /// mirrored key by key, arrays element by element.
    public static func metadata(of value: JSONValue, at timestamp: Int64) -> JSONValue {
        switch value {
        case .object(let members):
            var mirrored: [String: JSONValue] = [:]
            for (key, member) in members { mirrored[key] = metadata(of: member, at: timestamp) }
            return .object(mirrored)
        case .array(let items):
            return .array(items.map { metadata(of: $0, at: timestamp) })
        default:
            return ["timestamp": .int(timestamp)]
        }
    }

    /// The stored metadata of a section after `update` merged into `state` (the section before the update).
    public static func mergeMetadata(_ metadata: [String: JSONValue]?, state: [String: JSONValue]?, update: JSONValue,
                                     at timestamp: Int64) -> [String: JSONValue]? {
        guard let members = update.objectValue else { return nil }
        return mergeMetadataObject(metadata ?? [:], state: state ?? [:], members, timestamp)
    }

    private static func mergeMetadataObject(_ metadata: [String: JSONValue], state: [String: JSONValue],
                                            _ update: [String: JSONValue], _ timestamp: Int64) -> [String: JSONValue] {
        var result = metadata
        for (key, value) in update {
            if value == .null {
                result[key] = nil
            } else if case .object(let members) = value, case .object(let existing)? = state[key] {
                result[key] = .object(mergeMetadataObject(result[key]?.objectValue ?? [:], state: existing, members, timestamp))
            } else {
                result[key] = Self.metadata(of: withoutNulls(value), at: timestamp)
            }
        }
        return result
    }

    /// Every desired key whose value differs from reported (missing from reported counts as
    /// different), nested objects reduced to their differing leaves, arrays compared whole;
    /// with the desired metadata of what is in it.
    public static func delta(desired: [String: JSONValue]?, reported: [String: JSONValue]?,
                             metadata: [String: JSONValue]?) -> (state: [String: JSONValue], metadata: [String: JSONValue]) {
        var state: [String: JSONValue] = [:]
        var stamps: [String: JSONValue] = [:]
        for (key, wanted) in desired ?? [:] {
            let actual = reported?[key]
            if case .object(let wantedMembers) = wanted, case .object(let actualMembers)? = actual {
                let nested = delta(desired: wantedMembers, reported: actualMembers, metadata: metadata?[key]?.objectValue)
                if !nested.state.isEmpty {
                    state[key] = .object(nested.state)
                    stamps[key] = .object(nested.metadata)
                }
            } else if actual == nil || !equivalent(wanted, actual!) {
                state[key] = wanted
                if let stamp = metadata?[key] { stamps[key] = stamp }
            }
        }
        return (state, stamps)
    }

    /// Equality as JSON sees it: one number type (1 and 1.0 are equal), objects unordered.
    public static func equivalent(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): return a == b
        case (.int, .double), (.double, .int), (.double, .double): return lhs.doubleValue == rhs.doubleValue
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { equivalent($0, $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { equivalent(value, $0) } ?? false }
        default: return lhs == rhs
        }
    }

    /// Levels of nesting: 0 for a scalar, one more than the deepest member for an object or array.
    public static func depth(of value: JSONValue) -> Int {
        switch value {
        case .object(let members): return 1 + (members.values.map { depth(of: $0) }.max() ?? 0)
        case .array(let items): return 1 + (items.map { depth(of: $0) }.max() ?? 0)
        default: return 0
        }
    }

    /// The path of the first key nested deeper than `limit` levels inside `value`, or nil.
    public static func tooDeepPath(in value: JSONValue, limit: Int, path: String) -> String? {
        guard limit >= 0 else { return path }
        switch value {
        case .object(let members):
            for key in members.keys.sorted() {
                if let found = tooDeepPath(in: members[key]!, limit: limit - 1, path: "\(path).\(key)") { return found }
            }
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = tooDeepPath(in: item, limit: limit - 1, path: "\(path)[\(index)]") { return found }
            }
        default:
            break
        }
        return nil
    }

    /// The merge patch that turns `old` into `new`: changed keys with their new value, objects
    /// patched recursively, removed keys as `null`; nil when they are equivalent.
    public static func patch(from old: [String: JSONValue]?, to new: [String: JSONValue]) -> [String: JSONValue]? {
        let before = old ?? [:]
        var patch: [String: JSONValue] = [:]
        for (key, value) in new {
            switch (before[key], value) {
            case (.object(let a)?, .object(let b)):
                if let nested = Self.patch(from: a, to: b) { patch[key] = .object(nested) }
            case (let previous?, _) where equivalent(previous, value):
                break
            default:
                patch[key] = value
            }
        }
        for key in before.keys where new[key] == nil { patch[key] = .null }
        return patch.isEmpty ? nil : patch
    }
}

extension JSONValue {
    /// Bytes of this value as compact JSON (what the 8 KB state limit counts).
    public var compactSize: Int {
        switch self {
        case .null: return 4
        case .bool(let flag): return flag ? 4 : 5
        case .int(let number): return String(number).utf8.count
        case .double(let number):
            // As the writer puts it: a whole number below 1e15 without its ".0".
            if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)).utf8.count }
            return number.description.utf8.count
        case .string(let text): return Self.quotedSize(text)
        case .array(let items): return 2 + items.reduce(0) { $0 + $1.compactSize } + max(items.count - 1, 0)
        case .object(let members):
            return 2 + members.reduce(0) { $0 + Self.quotedSize($1.key) + 1 + $1.value.compactSize } + max(members.count - 1, 0)
        }
    }

    private static func quotedSize(_ text: String) -> Int {
        var size = 2
        for byte in text.utf8 {
            switch byte {
            case 0x22, 0x5C, 0x08, 0x0C, 0x0A, 0x0D, 0x09: size += 2
            case 0..<0x20: size += 6
            default: size += 1
            }
        }
        return size
    }
}
