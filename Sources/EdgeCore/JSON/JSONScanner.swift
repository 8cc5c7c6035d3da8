/// Reads JSON text without building values: checks that bytes are exactly one JSON value
/// (RFC 8259, strictly: UTF-8, no control characters in strings, no words but true/false/null,
/// at most `maxDepth` nested arrays and objects) and says where a top-level object's members lie.
///
/// It serves the invocation path, where an event is passed on to a function as its own bytes
/// and a function's result to MQTT as its own bytes: one pass and no allocation per value, where
/// json-c would build a tree (and set up a locale on every call) only for the agent to throw it
/// away. Documents the agent reads into values still go through json-c (`JSONCodec`).
public enum JSONScanner {
    public enum Kind: Sendable, Equatable {
        case object, array, string, number, literal
    }

    /// One member of a top-level object: its key (between the quotes) and its value's bytes.
    public struct Member: Sendable, Equatable {
        public var key: Range<Int>
        /// A key with a backslash must be unescaped before it is compared.
        public var keyHasEscapes: Bool
        public var value: Range<Int>
        public var kind: Kind
        /// For a string value: whether it has a backslash (its bytes are not its text).
        public var valueHasEscapes: Bool
    }

    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var tooDeep: Bool

        public var description: String {
            tooDeep || message == Self.truncated ? message : "invalid JSON at byte \(offset): \(message)"
        }

        static let truncated = "the document is empty or ends too early"
    }

    /// nil when `bytes` (white space around allowed) are one valid JSON value. With
    /// `integersIn64Bits`, an integer outside the 64-bit range is a problem too (for a reader
    /// that would clamp it, as json-c does).
    /// With `uniqueKeys`, an object that has a key twice is a problem too, naming the key and
    /// where it is (`"version" appears twice in functions.echo`): for documents people write,
    /// where a reader that keeps the last one would hide a mistake.
    public static func problem(in bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, integersIn64Bits: Bool = false,
                               uniqueKeys: Bool = false) -> Problem? {
        var reader = Reader(bytes: bytes, maxDepth: maxDepth, collect: false)
        reader.integersIn64Bits = integersIn64Bits
        reader.uniqueKeys = uniqueKeys
        return reader.document()
    }

    public static func problem(in bytes: [UInt8], maxDepth: Int, integersIn64Bits: Bool = false, uniqueKeys: Bool = false) -> Problem? {
        bytes.withUnsafeBufferPointer {
            problem(in: $0, maxDepth: maxDepth, integersIn64Bits: integersIn64Bits, uniqueKeys: uniqueKeys)
        }
    }

    /// The text of a JSON string from the bytes between its quotes, already checked by the
    /// scanner (so every escape is valid); an unpaired surrogate becomes U+FFFD.
    public static func unescape(_ content: UnsafeBufferPointer<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var plain: [UInt8] = []
        func flush() {
            if !plain.isEmpty { scalars.append(contentsOf: String(decoding: plain, as: UTF8.self).unicodeScalars) }
            plain.removeAll(keepingCapacity: true)
        }
        func hex(_ at: Int) -> UInt32 {
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = content[at + offset]
                let digit: UInt8 = byte <= 0x39 ? byte - 0x30 : (byte | 0x20) - 0x61 + 10
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        var index = 0
        while index < content.count {
            let byte = content[index]
            guard byte == 0x5C, index + 1 < content.count else {
                plain.append(byte)
                index += 1
                continue
            }
            let escape = content[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): plain.append(0x08)
            case UInt8(ascii: "f"): plain.append(0x0C)
            case UInt8(ascii: "n"): plain.append(0x0A)
            case UInt8(ascii: "r"): plain.append(0x0D)
            case UInt8(ascii: "t"): plain.append(0x09)
            case UInt8(ascii: "u") where index + 4 <= content.count:
                flush()
                var code = hex(index)
                index += 4
                if (0xD800..<0xDC00).contains(code), index + 6 <= content.count, content[index] == 0x5C,
                   content[index + 1] == UInt8(ascii: "u") {
                    let low = hex(index + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: plain.append(escape)  // \" \\ \/
            }
        }
        flush()
        return String(scalars)
    }

    /// The members of a top-level object in order (nil when the value is valid but no object),
    /// or what is wrong with the text.
    public static func members(of bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) -> Result<[Member]?, Problem> {
        var reader = Reader(bytes: bytes, maxDepth: maxDepth, collect: true)
        if let problem = reader.document() { return .failure(problem) }
        return .success(reader.isObject ? reader.members : nil)
    }

    public static func members(of bytes: [UInt8], maxDepth: Int) -> Result<[Member]?, Problem> {
        bytes.withUnsafeBufferPointer { members(of: $0, maxDepth: maxDepth) }
    }
}

extension JSONScanner.Member {
    /// Whether the key is `name` (an escaped key never is: callers fall back to a full parse).
    public func hasKey(_ name: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !keyHasEscapes, key.count == name.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        return UnsafeBufferPointer(rebasing: bytes[key]).elementsEqual(expected)
    }
}

private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    let collect: Bool
    var index = 0
    var depth = 0
    var isObject = false
    var members: [JSONScanner.Member] = []
    var sawNonASCII = false
    var integersIn64Bits = false
    /// Set by `string()`: whether the string just read had a backslash.
    var lastStringEscaped = false
    /// Whether an object may not have a key twice; `path` then says where the reader is.
    var uniqueKeys = false
    var path: [String] = []

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, collect: Bool) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.collect = collect
    }

    mutating func document() -> JSONScanner.Problem? {
        skipSpace()
        if index < bytes.count && bytes[index] == 0x7B { isObject = true }
        if let problem = value() { return problem }
        skipSpace()
        if index < bytes.count { return fail("unexpected data after the document") }
        // Bytes of 0x80 and up can only be inside strings: check them once, all together.
        if sawNonASCII && !validUTF8() { return JSONScanner.Problem(offset: 0, message: "the document is not valid UTF-8", tooDeep: false) }
        return nil
    }

    private func fail(_ message: String) -> JSONScanner.Problem {
        JSONScanner.Problem(offset: index, message: index < bytes.count ? message : JSONScanner.Problem.truncated, tooDeep: false)
    }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func value() -> JSONScanner.Problem? {
        guard index < bytes.count else { return fail("") }
        switch bytes[index] {
        case 0x7B: return container(object: true)
        case 0x5B: return container(object: false)
        case 0x22: return string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return fail("unexpected character '\(Self.shown(bytes[index]))'")
        }
    }

    private mutating func container(object: Bool) -> JSONScanner.Problem? {
        depth += 1
        if depth > maxDepth {
            return JSONScanner.Problem(offset: index, message: "the document nests deeper than \(maxDepth) levels", tooDeep: true)
        }
        let close: UInt8 = object ? 0x7D : 0x5D
        index += 1
        skipSpace()
        if index < bytes.count && bytes[index] == close {
            index += 1
            depth -= 1
            return nil
        }
        var seen: Set<String> = []
        var item = 0
        while true {
            var key = 0..<0
            var keyEscaped = false
            if object {
                guard index < bytes.count, bytes[index] == 0x22 else { return fail("expected a member's name in quotes") }
                let keyStart = index + 1
                if let problem = string() { return problem }
                key = keyStart..<(index - 1)
                keyEscaped = lastStringEscaped
                if uniqueKeys {
                    let content = UnsafeBufferPointer(rebasing: bytes[key])
                    let name = keyEscaped ? JSONScanner.unescape(content) : String(decoding: content, as: UTF8.self)
                    guard seen.insert(name).inserted else {
                        let place = path.isEmpty ? "the top-level object" : path.joined()
                        return JSONScanner.Problem(offset: keyStart - 1, message: "the key \"\(name)\" appears twice in \(place): keep one",
                                                   tooDeep: false)
                    }
                    path.append(path.isEmpty ? name : ".\(name)")
                }
                skipSpace()
                guard index < bytes.count, bytes[index] == 0x3A else { return fail("expected ':' after a member's name") }
                index += 1
                skipSpace()
            } else if uniqueKeys {
                path.append("[\(item)]")
            }
            item += 1
            let valueStart = index
            let kind = index < bytes.count ? Self.kind(of: bytes[index]) : .literal
            if let problem = value() { return problem }
            if uniqueKeys { path.removeLast() }
            if object && collect && depth == 1 {
                members.append(.init(key: key, keyHasEscapes: keyEscaped, value: valueStart..<index, kind: kind,
                                     valueHasEscapes: kind == .string && lastStringEscaped))
            }
            skipSpace()
            guard index < bytes.count else { return fail("") }
            if bytes[index] == 0x2C {
                index += 1
                skipSpace()
                continue
            }
            if bytes[index] == close {
                index += 1
                depth -= 1
                return nil
            }
            return fail(object ? "expected ',' or '}'" : "expected ',' or ']'")
        }
    }

    private static func kind(of byte: UInt8) -> JSONScanner.Kind {
        switch byte {
        case 0x7B: return .object
        case 0x5B: return .array
        case 0x22: return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"): return .literal
        default: return .number
        }
    }

    private mutating func string() -> JSONScanner.Problem? {
        index += 1
        lastStringEscaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x22 {
                index += 1
                return nil
            }
            if byte < 0x20 { return fail("a control character inside a string must be escaped") }
            if byte >= 0x80 { sawNonASCII = true }
            if byte == 0x5C {
                lastStringEscaped = true
                index += 1
                guard index < bytes.count else { return fail("") }
                switch bytes[index] {
                case 0x22, 0x5C, 0x2F, UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"):
                    for _ in 0..<4 {
                        index += 1
                        guard index < bytes.count else { return fail("") }
                        guard Self.isHex(bytes[index]) else { return fail("a \\u escape takes four hexadecimal digits") }
                    }
                default:
                    return fail("invalid escape '\\\(Self.shown(bytes[index]))'")
                }
            }
            index += 1
        }
        return fail("")
    }

    private mutating func number() -> JSONScanner.Problem? {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else { return fail("a number needs a digit") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        let integerEnd = index
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else { return fail("a number needs a digit after '.'") }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, Self.isDigit(bytes[index]) else { return fail("a number needs a digit in its exponent") }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if integersIn64Bits, integerEnd == index, index - start >= 19, Self.outside64Bits(bytes[start..<index]) {
            return JSONScanner.Problem(offset: start, message: "the integer \(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)) is outside the 64-bit range", tooDeep: false)
        }
        return nil
    }

    private static func outside64Bits(_ literal: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        let negative = literal.first == UInt8(ascii: "-")
        let digits = Array(literal.drop(while: { $0 == UInt8(ascii: "-") }))
        let limit = Array((negative ? "9223372036854775808" : "9223372036854775807").utf8)
        if digits.count != limit.count { return digits.count > limit.count }
        return limit.lexicographicallyPrecedes(digits)
    }

    private mutating func literal(_ word: StaticString) -> JSONScanner.Problem? {
        let count = word.utf8CodeUnitCount
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        guard index + count <= bytes.count, UnsafeBufferPointer(rebasing: bytes[index..<(index + count)]).elementsEqual(expected) else {
            return fail("unexpected character '\(Self.shown(bytes[index]))'")
        }
        index += count
        return nil
    }

    private func validUTF8() -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isHex(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
    }

    private static func shown(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}
