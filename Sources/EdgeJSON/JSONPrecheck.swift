/// What json-c lets through but JSON (RFC 8259) forbids, found in one pass before parsing:
/// invalid UTF-8 (including overlong forms and surrogates), raw control characters inside
/// strings, single-quoted strings, words other than true/false/null, and integers outside the 64-bit range (json-c would clamp them).
enum JSONPrecheck {
    static func problem(in bytes: [UInt8]) -> String? {
        if bytes.contains(where: { $0 >= 0x80 }) && String(validating: bytes, as: UTF8.self) == nil {
            return "invalid JSON: the document is not valid UTF-8"
        }
        var inString = false
        var escaped = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                } else if byte < 0x20 {
                    return "invalid JSON at byte \(index): a control character inside a string must be escaped"
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                index += 1
            case UInt8(ascii: "'"):
                return "invalid JSON at byte \(index): strings are quoted with \", not '"
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = index
                var integer = true
                while index < bytes.count, isNumberByte(bytes[index]) {
                    if bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { integer = false }
                    index += 1
                }
                if integer, outOfRange(bytes[start..<index]) {
                    return "invalid JSON at byte \(start): the integer \(String(decoding: bytes[start..<index], as: UTF8.self)) is outside the 64-bit range"
                }
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
                // Outside strings the only words JSON has are true, false and null (json-c also takes NaN, Infinity).
                let start = index
                while index < bytes.count, (bytes[index] | 0x20) >= UInt8(ascii: "a"), (bytes[index] | 0x20) <= UInt8(ascii: "z") {
                    index += 1
                }
                let word = String(decoding: bytes[start..<index], as: UTF8.self)
                if word != "true" && word != "false" && word != "null" {
                    return "invalid JSON at byte \(start): unexpected '\(word.prefix(20))'"
                }
            default:
                index += 1
            }
        }
        return nil
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: ".") || byte | 0x20 == UInt8(ascii: "e")
    }

    private static func outOfRange(_ literal: ArraySlice<UInt8>) -> Bool {
        let negative = literal.first == UInt8(ascii: "-")
        let digits = Array(literal.drop(while: { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "0") }))
        let limit = Array((negative ? "9223372036854775808" : "9223372036854775807").utf8)
        if digits.count != limit.count { return digits.count > limit.count }
        return digits.lexicographicallyPrecedes(limit) == false && digits != limit
    }
}
