import Testing
@testable import EdgeCore

@Suite struct NameRuleTests {
    @Test(arguments: ["a", "Z9", "a_b-c:d", String(repeating: "x", count: 128)])
    func validThingAndGroupNames(_ name: String) {
        #expect(NameRule.thingName(name) == nil)
        #expect(NameRule.groupName(name) == nil)
    }

    @Test(arguments: ["", "a b", "a/b", "a.b", "a+b", "a#b", "é", "a\u{0}", String(repeating: "x", count: 129)])
    func invalidThingAndGroupNames(_ name: String) {
        #expect(NameRule.thingName(name) != nil)
        #expect(NameRule.groupName(name) != nil)
    }

    @Test func functionNamesAreStricter() {
        #expect(NameRule.functionName("a_b-c") == nil)
        #expect(NameRule.functionName("a:b") != nil)
        #expect(NameRule.functionName(String(repeating: "f", count: 64)) == nil)
        #expect(NameRule.functionName(String(repeating: "f", count: 65)) == "a function name must be 1 to 64 characters")
    }

    @Test func messages() {
        #expect(NameRule.check("", extra: "_", what: "a thing", maxLength: 5) == "a thing must be 1 to 5 characters")
        #expect(NameRule.check("a.b", extra: "_-", what: "a thing", maxLength: 5) == "a thing may contain only letters, digits and '_' '-'")
        #expect(NameRule.check("a.b", extra: ".", what: "a thing", maxLength: 5) == nil)
    }

    @Test func lengthIsCountedInBytes() {
        // Fails on characters, but the length check comes first: 3 two-byte characters exceed 5 bytes.
        #expect(NameRule.check("ééé", extra: "", what: "x", maxLength: 5) == "x must be 1 to 5 characters")
    }
}

@Suite struct RelativePathTests {
    @Test(arguments: ["a", "a/b", "./a", "a/./b", "..a", "a..", "a/...", "a/.hidden", "a//b", "a/"])
    func pathsThatStayInside(_ path: String) {
        #expect(RelativePath.problem(in: path, allowAbsolute: false) == nil)
    }

    @Test(arguments: ["..", "../a", "a/..", "a/../b", "a/b/../../..", "./.."])
    func pathsWithDotDot(_ path: String) {
        #expect(RelativePath.problem(in: path, allowAbsolute: false) == "cannot contain '..'")
        #expect(RelativePath.problem(in: path, allowAbsolute: true) == "cannot contain '..'")
    }

    @Test func absolutePaths() {
        #expect(RelativePath.problem(in: "/bin/sh", allowAbsolute: false) == "must be relative")
        #expect(RelativePath.problem(in: "/bin/sh", allowAbsolute: true) == nil)
        #expect(RelativePath.problem(in: "/", allowAbsolute: false) == "must be relative")
    }

    @Test func emptyPath() {
        #expect(RelativePath.problem(in: "", allowAbsolute: false) == "cannot be empty")
        #expect(RelativePath.problem(in: "", allowAbsolute: true) == "cannot be empty")
    }
}

@Suite struct JSONValueTests {
    @Test(arguments: [
        (JSONValue.int(5), Int64?(5)), (.double(5.0), 5), (.double(-0.0), 0), (.double(5.5), nil), (.string("5"), nil),
        (.bool(true), nil), (.null, nil), (.double(8.9e15), 8_900_000_000_000_000), (.double(9.1e15), nil),
        (.double(.infinity), nil), (.double(.nan), nil),
    ] as [(JSONValue, Int64?)])
    func intValue(_ value: JSONValue, _ expected: Int64?) {
        #expect(value.intValue == expected)
    }

    @Test func accessors() {
        let value: JSONValue = ["s": "x", "n": 1, "d": 1.5, "b": true, "a": [1], "o": [:], "z": nil]
        #expect(value["s"]?.stringValue == "x")
        #expect(value["n"]?.doubleValue == 1)
        #expect(value["d"]?.doubleValue == 1.5)
        #expect(value["b"]?.boolValue == true)
        #expect(value["a"]?.arrayValue == [1])
        #expect(value["o"]?.objectValue == [:])
        #expect(value["z"] == .null)
        #expect(value["missing"] == nil)
        #expect(JSONValue.array([1])["s"] == nil)
        #expect(JSONValue.int(1).stringValue == nil)
        #expect(JSONValue.string("1").doubleValue == nil)
        #expect(JSONValue.int(1).boolValue == nil)
        #expect(JSONValue.string("x").arrayValue == nil)
        #expect(JSONValue.array([]).objectValue == nil)
    }

    @Test(arguments: [
        (JSONValue.null, "null"), (true, "boolean"), (1, "number"), (1.5, "number"), ("s", "string"), ([], "array"), ([:], "object"),
    ] as [(JSONValue, String)])
    func typeNames(_ value: JSONValue, _ name: String) {
        #expect(value.typeName == name)
    }

    @Test(arguments: [
        (JSONValue.null, "null"), (true, "true"), (false, "false"), (-12, "-12"), (1.5, "1.5"), ("a\"b", "\"a\"b\""),
        ([1, "x", [:]], "[1,\"x\",{}]"), (["b": 1, "a": [true]], "{\"a\":[true],\"b\":1}"),
    ] as [(JSONValue, String)])
    func excerpts(_ value: JSONValue, _ text: String) {
        #expect(value.excerpt() == text)
    }

    @Test func excerptIsCutAtTheLimit() {
        let value = JSONValue.string(String(repeating: "y", count: 10))
        #expect(value.excerpt(limit: 12) == "\"yyyyyyyyyy\"")
        #expect(value.excerpt(limit: 11) == "\"yyyyyyyyyy…")
        #expect(value.excerpt(limit: 3) == "\"yy…")
    }
}
