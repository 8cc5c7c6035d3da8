/// The requests' payloads and how a reply names the request it answers.
///
/// A request is `{"seq":N,"pad":"…"}`. Whatever wraps or copies it (the broker-only echo sends
/// it back unchanged; the agent's result holds it under `result.echo`), the reply carries
/// `"seq":N` with its digits intact, so the reply is matched without parsing it whole.
enum Request {
    static func payload(seq: Int, bytes: Int) -> [UInt8] {
        let head = Array("{\"seq\":\(seq),\"pad\":\"".utf8)
        let padding = max(0, bytes - head.count - 2)
        return head + [UInt8](repeating: UInt8(ascii: "x"), count: padding) + Array("\"}".utf8)
    }

    private static let key = Array("\"seq\":".utf8)
    private static let error = Array("\"status\":\"error\"".utf8)

    /// The request number a reply carries, or nil when it has none (a probe, say).
    static func sequence(in reply: [UInt8]) -> Int? {
        guard let at = find(key, in: reply) else { return nil }
        var index = at + key.count
        while index < reply.count, reply[index] == UInt8(ascii: " ") { index += 1 }
        var value = 0
        var digits = 0
        while index < reply.count, reply[index] >= UInt8(ascii: "0"), reply[index] <= UInt8(ascii: "9") {
            value = value * 10 + Int(reply[index] - UInt8(ascii: "0"))
            index += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// The agent answered with an error (QueueFull, Timeout, …) instead of the function's result.
    static func isError(_ reply: [UInt8]) -> Bool { find(error, in: reply) != nil }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var start = 0
        while start + needle.count <= haystack.count {
            if haystack[start] == needle[0] {
                var matched = 1
                while matched < needle.count, haystack[start + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return start }
            }
            start += 1
        }
        return nil
    }
}
