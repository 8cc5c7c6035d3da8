import Testing
import EdgeCore
import EdgeJSON

private func problem(_ text: String, maxDepth: Int = 64) -> JSONScanner.Problem? {
    JSONScanner.problem(in: Array(text.utf8), maxDepth: maxDepth)
}

private func codecAccepts(_ text: String) -> Bool {
    if case .success = JSONCodec.parse(text) { return true }
    return false
}

/// The scanner passes an event or a result on as its own bytes: it must accept exactly what
/// JSON is, and say where a top-level object's members are.
@Suite struct JSONScannerTests {
    @Test(arguments: [
        "null", "true", "false", "0", "-0", "12", "-1.5e+10", "0.25", "1E3", #""""#, #""a\"b\\c\/\b\f\n\r\t\u00e9""#,
        "[]", "{}", " [1, [2, {\"a\": [3]}]] ", "{\"k\":{\"k\":{}}}", "\"€ and 😀\"", "123456789012345678901234567890",
    ])
    func acceptsJSON(_ text: String) {
        #expect(problem(text) == nil, "\(text) was refused: \(String(describing: problem(text)))")
        // json-c, with the strict pass in front, agrees (a wide integer aside: it would clamp it).
        if text != "123456789012345678901234567890" {
            #expect(codecAccepts(text), "\(text) is JSON to the scanner but not to JSONCodec")
        }
    }

    @Test(arguments: [
        "", " ", "[", "{", "[1,]", "{\"a\":1,}", "{a:1}", "{'a':1}", "'a'", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity",
        "tru", "nul", "[1 2]", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "\"a", "\"\\x\"", "\"\\u12g4\"", "1 2", "{}{}", "[]x",
        "\"a\u{1}b\"", "\"tab\there\"",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(problem(text) != nil, "\(text) was accepted")
        #expect(!codecAccepts(text), "\(text) is refused by the scanner but JSONCodec takes it")
    }

    @Test func refusesInvalidUTF8InsideStrings() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22]] {
            #expect(JSONScanner.problem(in: bytes, maxDepth: 64)?.message == "the document is not valid UTF-8", "\(bytes)")
        }
    }

    @Test func nestingIsCountedInArraysAndObjectsAndLimited() {
        let eight = String(repeating: "[", count: 8) + String(repeating: "]", count: 8)
        #expect(problem(eight, maxDepth: 8) == nil)
        let nine = String(repeating: "[", count: 9) + String(repeating: "]", count: 9)
        let tooDeep = problem(nine, maxDepth: 8)
        #expect(tooDeep?.tooDeep == true && tooDeep?.offset == 8)
        #expect(tooDeep?.description == "the document nests deeper than 8 levels")
        #expect(problem(String(repeating: "{\"a\":", count: 100) + "1" + String(repeating: "}", count: 100))?.tooDeep == true)
        // A deep unfinished document is too deep, not cut short: nothing past the limit is read.
        #expect(problem(String(repeating: "[", count: 100_000))?.tooDeep == true)
    }

    @Test func problemsSayWhereAndWhat() {
        #expect(problem("[1,]")?.description == "invalid JSON at byte 3: unexpected character ']'")
        #expect(problem("[1")?.description == "the document is empty or ends too early")
        #expect(problem("{\"a\":1}x")?.description == "invalid JSON at byte 7: unexpected data after the document")
    }

    @Test func wideIntegersAreRefusedOnlyWhenAsked() {
        let wide = Array("[9223372036854775808]".utf8)
        #expect(JSONScanner.problem(in: wide, maxDepth: 64) == nil)
        #expect(JSONScanner.problem(in: wide, maxDepth: 64, integersIn64Bits: true)?.offset == 1)
        #expect(JSONScanner.problem(in: Array("[9223372036854775807, -9223372036854775808, 1e400]".utf8), maxDepth: 64,
                                    integersIn64Bits: true) == nil)
        #expect(JSONScanner.problem(in: Array("-9223372036854775809".utf8), maxDepth: 64, integersIn64Bits: true) != nil)
    }

    @Test func aTopLevelObjectsMembersAreFoundInOrderWithTheirValuesBytes() throws {
        let text = Array(#" {"type":"result", "id" : "dev1-7","result":{"digit":[7, 8]},"n":-1.5,"t\u0079pe":null} "#.utf8)
        let members = try #require(try JSONScanner.members(of: text, maxDepth: 64).get())
        let shown = members.map { (String(decoding: text[$0.key], as: UTF8.self), String(decoding: text[$0.value], as: UTF8.self)) }
        #expect(shown.map(\.0) == ["type", "id", "result", "n", #"t\u0079pe"#])
        #expect(shown.map(\.1) == [#""result""#, #""dev1-7""#, #"{"digit":[7, 8]}"#, "-1.5", "null"])
        #expect(members.map(\.kind) == [.string, .string, .object, .number, .literal])
        #expect(members.map(\.keyHasEscapes) == [false, false, false, false, true])
        text.withUnsafeBufferPointer { bytes in
            #expect(members[0].hasKey("type", in: bytes))
            // An escaped name is never taken for the plain one: the caller parses such a line fully.
            #expect(!members[4].hasKey("type", in: bytes))
        }
    }

    @Test func anythingButAnObjectHasNoMembers() throws {
        #expect(try JSONScanner.members(of: Array("[1]".utf8), maxDepth: 64).get() == nil)
        #expect(try JSONScanner.members(of: Array(#""x""#.utf8), maxDepth: 64).get() == nil)
        #expect(try JSONScanner.members(of: Array("{}".utf8), maxDepth: 64).get() == [])
    }
}

@Suite struct JSONWriterTests {
    @Test func writesWhatJSONCodecReadsBack() throws {
        let value: JSONValue = ["b": [1, 2.5, "x\"y\\z\n\t\u{1}\u{7F}é", .null, true], "a": ["nested": [:]], "n": -0.001, "big": 1e20,
                                "whole": 3.0, "nan": .double(.nan)]
        let text = String(decoding: JSONWriter.serialize(value), as: UTF8.self)
        #expect(text == #"{"a":{"nested":{}},"b":[1,2.5,"x\"y\\z\n\t\u0001"# + "\u{7F}é\",null,true],\"big\":1e+20,\"n\":-0.001,\"nan\":null,\"whole\":3}")
        let expected: JSONValue = ["b": [1, 2.5, "x\"y\\z\n\t\u{1}\u{7F}é", .null, true], "a": ["nested": [:]], "n": -0.001, "big": 1e20,
                                   "whole": 3, "nan": .null]
        #expect(try JSONCodec.parse(text).get() == expected)
    }

    @Test func membersWrittenOneByOneGetTheirCommas() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("a")
        writer.beginObject()
        writer.endObject()
        writer.key("b")
        writer.beginObject()
        writer.key("c")
        writer.write(Int64(1))
        writer.key("d")
        writer.write(raw: Array("[true]".utf8))
        writer.endObject()
        writer.key("e")
        writer.write("f")
        writer.endObject()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"a":{},"b":{"c":1,"d":[true]},"e":"f"}"#)
    }
}

@Suite struct JSONScannerUniqueKeysTests {
    private func duplicate(_ text: String) -> String? {
        JSONScanner.problem(in: Array(text.utf8), maxDepth: 64, uniqueKeys: true)?.message
    }

    @Test func aKeyGivenTwiceIsNamedWithWhereItIs() {
        #expect(duplicate(#"{"a": 1, "a": 2}"#) == #"the key "a" appears twice in the top-level object: keep one"#)
        #expect(duplicate(#"{"functions": {"echo": {"version": "1", "command": ["e"], "version": "2"}}}"#)
            == #"the key "version" appears twice in functions.echo: keep one"#)
        #expect(duplicate(#"{"functions": {"f": {"subscriptions": [{"topic": "a"}, {"topic": "b", "topic": "c"}]}}}"#)
            == #"the key "topic" appears twice in functions.f.subscriptions[1]: keep one"#)
    }

    @Test func keysAreComparedAsText() {
        #expect(duplicate(#"{"a": 1, "\u0061": 2}"#) == #"the key "a" appears twice in the top-level object: keep one"#)
        #expect(duplicate(#"{"é": 1, "\u00e9": 2}"#) != nil)
        #expect(duplicate(#"{"a": 1, "A": 2, "b": {"a": 1}, "c": [{"a": 1}, {"a": 2}]}"#) == nil)
    }

    @Test func withoutTheOptionTheLastOneIsLeftToTheReader() {
        #expect(JSONScanner.problem(in: Array(#"{"a": 1, "a": 2}"#.utf8), maxDepth: 64) == nil)
    }

    @Test func theCodecRefusesDuplicatesWhenAsked() {
        guard case .failure(let error) = JSONCodec.parse(Array(#"{"revision": 1, "revision": 2}"#.utf8), uniqueKeys: true) else {
            Issue.record("a duplicate key was accepted")
            return
        }
        #expect(error.message.contains(#"the key "revision" appears twice"#))
        if case .failure = JSONCodec.parse(Array(#"{"revision": 1, "revision": 2}"#.utf8)) { Issue.record("refused without the option") }
    }

    @Test(arguments: [
        (#"plain"#, "plain"), (#"a\"b\\c\/d"#, "a\"b\\c/d"), (#"\b\f\n\r\t"#, "\u{8}\u{C}\n\r\t"),
        (#"\u00e9\u20AC"#, "é€"), (#"\ud83d\ude00"#, "😀"), (#"x\ud83dy"#, "x\u{FFFD}y"), ("é€", "é€"),
    ])
    func unescapeGivesTheStringsText(_ content: String, _ text: String) {
        let bytes = Array(content.utf8)
        #expect(bytes.withUnsafeBufferPointer { JSONScanner.unescape($0) } == text)
    }
}
