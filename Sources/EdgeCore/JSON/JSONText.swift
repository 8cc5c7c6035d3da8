/// Short, single-line renderings of JSON values for error messages (not a serializer: the
/// agent's reader and writer is json-c, in EdgeJSON).
extension JSONValue {
    /// A compact rendering cut to `limit` characters, for quoting a bad value back to a user.
    public func excerpt(limit: Int = 60) -> String {
        let full = render()
        if full.count <= limit { return full }
        return String(full.prefix(limit)) + "…"
    }

    private func render() -> String {
        switch self {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .double(let number): return String(number)
        case .string(let text): return "\"" + text + "\""
        case .array(let items): return "[" + items.map { $0.render() }.joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { "\"\($0)\":" + members[$0]!.render() }.joined(separator: ",") + "}"
        }
    }
}
