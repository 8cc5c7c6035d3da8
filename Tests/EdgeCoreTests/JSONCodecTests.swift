import Testing
import EdgeCore
import EdgeJSON

private func parsed(_ text: String, maxDepth: Int = 64) -> JSONValue? {
    try? JSONCodec.parse(text, maxDepth: maxDepth).get()
}

private func parseError(_ text: String, maxDepth: Int = 64) -> JSONParseError? {
    if case .failure(let error) = JSONCodec.parse(text, maxDepth: maxDepth) { return error }
    return nil
}

private func parseError(bytes: [UInt8], maxBytes: Int = 16 << 20) -> JSONParseError? {
    if case .failure(let error) = JSONCodec.parse(bytes, maxBytes: maxBytes) { return error }
    return nil
}

/// Serializes `value` inside an array and reads it back, so any type can be tested as a member.
private func reparsed(_ value: JSONValue) -> JSONValue? {
    guard case .array(let items)? = try? JSONCodec.parse(JSONCodec.serialize([value])).get(), items.count == 1 else { return nil }
    return items[0]
}

@Suite struct JSONCodecTests {
    // MARK: Round trips

    @Test(arguments: [
        JSONValue.null, true, false, 0, 1, -1, 42, .int(Int64.max), .int(Int64.min),
        0.5, -2.25, 0.1, 1e-7, 3.141592653589793, 1e300, -1e-300, .double(.leastNonzeroMagnitude), 1.7976931348623157e308, 1e15, 123456.789,
        "", "plain", "quote \" backslash \\ slash /", "tab\tnewline\ncr\r", "ünïcødé 日本 🎉", "nul\u{0}inside", "\u{1}\u{1f}\u{7f}",
        [], [1, "two", 3.5, .null, false, [[]]],
        [:], ["a": 1, "b": ["c": [1, 2, ["d": .null]]], "": "empty key", "ü": "ünïcode key"],
    ])
    func roundTrip(_ value: JSONValue) {
        #expect(reparsed(value) == value)
    }

    @Test func wholeDoublesAreWrittenAsIntegers() {
        #expect(JSONCodec.text(.double(2.0)) == "2")
        #expect(JSONCodec.text(.double(-3.0)) == "-3")
        #expect(reparsed(.double(2.0)) == .int(2))
    }

    @Test(arguments: [
        (0.1, "0.1"), (1e-7, "1e-07"), (0.3, "0.3"), (2.5, "2.5"), (-0.001, "-0.001"), (1e300, "1e+300"),
        (0.1 + 0.2, "0.30000000000000004"), (1e16, "1e+16"), (123456.789, "123456.789"),
    ])
    func doublesAreWrittenShortest(_ number: Double, _ text: String) {
        #expect(JSONCodec.text(.double(number)) == text)
        #expect(parsed("[\(text)]") == [.double(number)])
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(JSONCodec.text(.double(.infinity)) == "null")
        #expect(JSONCodec.text(.double(-.infinity)) == "null")
        #expect(JSONCodec.text(.double(.nan)) == "null")
        #expect(JSONCodec.text([.double(.nan)]) == "[null]")
    }

    @Test func keysAreSorted() {
        let value: JSONValue = ["zeta": 1, "alpha": 2, "Mid": 3, "beta": ["y": 1, "x": 2]]
        #expect(JSONCodec.text(value) == #"{"Mid":3,"alpha":2,"beta":{"x":2,"y":1},"zeta":1}"#)
    }

    @Test func compactOutputOfEveryType() {
        let value: JSONValue = ["a": [1, 2.5, "s", true, false, .null], "o": [:], "e": []]
        #expect(JSONCodec.text(value) == #"{"a":[1,2.5,"s",true,false,null],"e":[],"o":{}}"#)
        #expect(JSONCodec.text(.null) == "null")
        #expect(JSONCodec.text(.string("")) == #""""#)
    }

    @Test func stringEscapes() {
        #expect(JSONCodec.text(.string("a\"b")) == #""a\"b""#)
        #expect(JSONCodec.text(.string("a\\b")) == #""a\\b""#)
        #expect(JSONCodec.text(.string("a/b")) == #""a/b""#)
        #expect(JSONCodec.text(.string("a\nb")) == #""a\nb""#)
        #expect(JSONCodec.text(.string("a\u{0}b")) == #""a\u0000b""#)
    }

    @Test func nonASCIIIsKeptAsUTF8() {
        let bytes = JSONCodec.serialize(.string("é"))
        #expect(bytes == [0x22, 0xC3, 0xA9, 0x22])
    }

    @Test func serializedOutputIsValidUTF8Text() {
        let value: JSONValue = ["k": "日本"]
        #expect(JSONCodec.text(value) == String(decoding: JSONCodec.serialize(value), as: UTF8.self))
    }

    // MARK: Parsing

    @Test(arguments: [
        ("[null, true, false]", [.null, true, false]), ("[42, -7, 0]", [42, -7, 0]), ("[2.5, 1e3, -0.5E-1]", [2.5, 1000.0, -0.05]),
        ("\"s\"", "s"),
        ("[]", []), ("{}", [:]), (" [1, 2] ", [1, 2]), ("\n{\"a\" : {\"b\": [true]}}\r\n\t", ["a": ["b": [true]]]),
        (#""\u00e9\ud83c\udf89""#, "é🎉"), (#""a\u0000b""#, "a\u{0}b"), (#""\/""#, "/"),
    ] as [(String, JSONValue)])
    func parsesDocuments(_ text: String, _ expected: JSONValue) {
        #expect(parsed(text) == expected)
    }

    /// RFC 8259 allows any value at the top level; a bare literal or number is a whole document.
    @Test(arguments: [
        ("null", JSONValue.null), ("true", true), ("false", false), ("42", 42), ("-7", -7), ("0", 0), ("2.5", 2.5), ("1e3", 1000.0),
    ] as [(String, JSONValue)])
    func topLevelScalarDocuments(_ text: String, _ expected: JSONValue) {
        #expect(JSONCodec.parse(text) == .success(expected))
    }

    @Test func topLevelScalarFollowedByWhiteSpace() {
        #expect(parsed("42 ") == .int(42))
        #expect(parsed("\"s\"") == .string("s"))
    }

    @Test func integersAndDoublesAreDistinct() {
        #expect(parsed("[1, 1.0]") == [.int(1), .double(1.0)])
    }

    @Test func bigIntegers() {
        #expect(parsed("[9223372036854775807, -9223372036854775808]") == [.int(Int64.max), .int(Int64.min)])
        #expect(JSONCodec.text(.int(Int64.max)) == "9223372036854775807")
        #expect(JSONCodec.text(.int(Int64.min)) == "-9223372036854775808")
    }

    /// Integers beyond Int64 must not silently become a different number.
    @Test(arguments: ["[9223372036854775808]", "[18446744073709551615]", "[-9223372036854775809]", "[100000000000000000000]"])
    func integersBeyondInt64AreNotClamped(_ text: String) {
        switch JSONCodec.parse(text) {
        case .failure:
            break  // refusing is fine
        case .success(let value):
            let first = value.arrayValue?.first
            #expect(first != .int(Int64.max) && first != .int(Int64.min),
                    "\(text) was read as \(value)")
        }
    }

    @Test func duplicateKeysKeepTheLast() {
        #expect(parsed(#"{"a":1,"a":2}"#) == ["a": 2])
    }

    @Test(arguments: ["", " ", "\n\t ", "[", "{\"a\":", "\"unterminated", "[1,"])
    func emptyOrUnfinishedDocuments(_ text: String) {
        let error = parseError(text)
        #expect(error?.kind == .invalid)
        #expect(error?.message == "the document is empty or ends too early")
    }

    @Test(arguments: ["{} x", "[1] [2]", "\"a\"b", "null null", "{}}", "1 2", "true false"])
    func trailingGarbageIsRejected(_ text: String) {
        let error = parseError(text)
        #expect(error?.kind == .invalid)
        #expect(error?.message.hasPrefix("invalid JSON") == true)
    }

    @Test(arguments: ["{}\n", "[] \t\r\n", "1 ", "\"x\"\n"])
    func trailingWhiteSpaceIsAllowed(_ text: String) {
        #expect(parseError(text) == nil)
    }

    @Test(arguments: [
        "{a:1}", "[1,]", "{\"a\":1,}", "[01]", "NaN", "Infinity", "[.5]", "[+1]", "tru", "nul!",
        "// c\n{}", "/* c */ {}", "{\"a\" 1}", "[1 2]", "\"\\x\"", "#",
    ])
    func invalidDocumentsAreRejected(_ text: String) {
        let error = parseError(text)
        #expect(error?.kind == .invalid, "\(text) was accepted")
        #expect(error?.message.hasPrefix("invalid JSON") == true || error?.message == "the document is empty or ends too early")
    }

    /// Extensions json-c accepts in non-strict mode; RFC 8259 has no single-quoted strings and
    /// requires control characters in strings to be escaped.
    @Test(arguments: ["{'a':1}", "['x']", "\"tab\tinside\"", "[\"new\nline\"]"])
    func nonStandardExtensionsAreRejected(_ text: String) {
        #expect(parseError(text)?.kind == .invalid, "\(text.debugDescription) was accepted as \(String(describing: parsed(text)))")
    }

    @Test func invalidMessageSaysWhere() throws {
        let error = try #require(parseError("[1, x]"))
        #expect(error.kind == .invalid)
        #expect(error.message.hasPrefix("invalid JSON at byte 4: "))
        #expect(error.description == error.message)
    }

    @Test func trailingMessageSaysWhere() {
        #expect(parseError("{}x")?.message.hasPrefix("invalid JSON at byte 2") == true)
        #expect(parseError("[1]  x")?.kind == .invalid)
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22] as [UInt8],                 // 0xFF is never UTF-8
        [0x22, 0xC3, 0x22],                             // truncated 2-byte sequence
        [0x22, 0xE2, 0x82, 0x22],                       // truncated 3-byte sequence
        [0x22, 0xC0, 0xAF, 0x22],                       // overlong '/'
        [0x22, 0xED, 0xA0, 0x80, 0x22],                 // UTF-16 surrogate encoded in UTF-8
        [0x7B, 0x22, 0x80, 0x22, 0x3A, 0x31, 0x7D],     // lone continuation byte in a key
    ])
    func invalidUTF8IsRejected(_ bytes: [UInt8]) {
        #expect(parseError(bytes: bytes)?.kind == .invalid,
                "\(bytes) was accepted as \(String(describing: try? JSONCodec.parse(bytes).get()))")
    }

    @Test func validMultibyteUTF8IsAccepted() throws {
        #expect(try JSONCodec.parse([0x22, 0xE2, 0x82, 0xAC, 0x22] as [UInt8]).get() == "€")
    }

    @Test func nestingWithinTheLimitIsAccepted() {
        let depth = 8
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(parseError(text, maxDepth: depth) == nil)
        #expect(parseError(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) == nil)
    }

    @Test func nestingBeyondTheLimitIsTooDeep() {
        let depth = 8
        let text = String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1)
        let error = parseError(text, maxDepth: depth)
        #expect(error?.kind == .tooDeep)
        #expect(error?.message == "the document nests deeper than 8 levels")
        let objects = String(repeating: "{\"a\":", count: 100) + "1" + String(repeating: "}", count: 100)
        #expect(parseError(objects)?.kind == .tooDeep)
    }

    @Test func deepButUnfinishedIsStillTooDeep() {
        #expect(parseError(String(repeating: "[", count: 1000))?.kind == .tooDeep)
    }

    @Test func sizeLimit() {
        let bytes = Array("[1,2,3]".utf8)
        #expect(parseError(bytes: bytes, maxBytes: 7) == nil)
        let error = parseError(bytes: bytes, maxBytes: 6)
        #expect(error?.kind == .tooLarge)
        #expect(error?.message == "the document is 7 bytes; at most 6 are accepted")
    }

    @Test func embeddedNULByteIsNotWhiteSpace() {
        #expect(parseError(bytes: Array("{}".utf8) + [0])?.kind == .invalid)
    }

    @Test func largeDocumentRoundTrips() {
        var members: [String: JSONValue] = [:]
        for index in 0..<2000 { members["k\(index)"] = .array([.int(Int64(index)), .string(String(repeating: "x", count: index % 50))]) }
        let value = JSONValue.object(members)
        #expect(reparsed(value) == value)
    }
}
