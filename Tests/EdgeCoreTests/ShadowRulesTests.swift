import Testing
import EdgeJSON
@testable import EdgeCore

// MARK: - Merging an update into a section

/// `before` and `after` nil mean "no section".
struct MergeCase: Sendable, CustomTestStringConvertible {
    var name: String
    var before: String?
    var update: String
    var after: String?
    var testDescription: String { name }
}

let mergeCases: [MergeCase] = [
    MergeCase(name: "first write creates the section", before: nil, update: #"{"color": "red"}"#, after: #"{"color": "red"}"#),
    MergeCase(name: "a value replaces a value", before: #"{"color": "red"}"#, update: #"{"color": "green"}"#,
              after: #"{"color": "green"}"#),
    MergeCase(name: "keys not in the update are kept", before: #"{"color": "red", "power": "on"}"#,
              update: #"{"color": "green"}"#, after: #"{"color": "green", "power": "on"}"#),
    MergeCase(name: "new keys are added", before: #"{"color": "red"}"#, update: #"{"power": "on"}"#,
              after: #"{"color": "red", "power": "on"}"#),
    // The AWS example that deletes the engine property.
    MergeCase(name: "null deletes a key", before: #"{"color": "red", "engine": "ON"}"#, update: #"{"engine": null}"#,
              after: #"{"color": "red"}"#),
    MergeCase(name: "null for a missing key changes nothing", before: #"{"a": 1}"#, update: #"{"b": null}"#, after: #"{"a": 1}"#),
    MergeCase(name: "nested objects merge", before: #"{"lights": {"color": "red", "level": 5}}"#,
              update: #"{"lights": {"level": 7}}"#, after: #"{"lights": {"color": "red", "level": 7}}"#),
    MergeCase(name: "null deletes a nested key", before: #"{"lights": {"color": "red", "level": 5}}"#,
              update: #"{"lights": {"level": null}}"#, after: #"{"lights": {"color": "red"}}"#),
    MergeCase(name: "merge recurses at every level", before: #"{"a": {"b": {"c": 1, "d": 2}, "e": 3}}"#,
              update: #"{"a": {"b": {"c": 4, "f": 5}}}"#, after: #"{"a": {"b": {"c": 4, "d": 2, "f": 5}, "e": 3}}"#),
    MergeCase(name: "an empty object changes nothing", before: #"{"a": {"x": 1}}"#, update: #"{"a": {}}"#,
              after: #"{"a": {"x": 1}}"#),
    MergeCase(name: "an empty update changes nothing", before: #"{"a": 1}"#, update: "{}", after: #"{"a": 1}"#),
    MergeCase(name: "an array replaces an array whole", before: #"{"colors": ["red", "green", "blue"]}"#,
              update: #"{"colors": ["blue"]}"#, after: #"{"colors": ["blue"]}"#),
    MergeCase(name: "arrays of objects are not merged element by element", before: #"{"a": [{"x": 1}, {"y": 2}]}"#,
              update: #"{"a": [{"z": 3}]}"#, after: #"{"a": [{"z": 3}]}"#),
    MergeCase(name: "an object replaces a scalar, its nulls dropped", before: #"{"a": 5}"#,
              update: #"{"a": {"x": 1, "y": null}}"#, after: #"{"a": {"x": 1}}"#),
    MergeCase(name: "an object replaces an array", before: #"{"a": [1, 2]}"#, update: #"{"a": {"x": 1}}"#,
              after: #"{"a": {"x": 1}}"#),
    MergeCase(name: "a scalar replaces an object", before: #"{"a": {"x": 1}}"#, update: #"{"a": 5}"#, after: #"{"a": 5}"#),
    MergeCase(name: "an array replaces an object", before: #"{"a": {"x": 1}}"#, update: #"{"a": [1, 2]}"#,
              after: #"{"a": [1, 2]}"#),
    MergeCase(name: "a type change replaces", before: #"{"a": "1"}"#, update: #"{"a": 1}"#, after: #"{"a": 1}"#),
    MergeCase(name: "nulls are dropped from a new section at every level", before: nil,
              update: #"{"a": {"b": null, "c": {"d": null, "e": 1}}, "f": null}"#, after: #"{"a": {"c": {"e": 1}}}"#),
    MergeCase(name: "a null section clears it", before: #"{"color": "red"}"#, update: "null", after: nil),
    MergeCase(name: "a null section on no section stays none", before: nil, update: "null", after: nil),
]

@Suite struct ShadowMergeTests {
    @Test(arguments: mergeCases)
    func merge(_ c: MergeCase) {
        #expect(ShadowRules.merge(section(c.before), with: parseJSON(c.update)) == section(c.after))
    }

    /// Metadata mirrors the merged section: stamping the section before, then merging the
    /// update's stamps, gives the stamps of the section after (deleted keys lose theirs).
    @Test(arguments: mergeCases)
    func metadataFollowsTheMerge(_ c: MergeCase) {
        let before = section(c.before)
        let stamped = before.flatMap { ShadowRules.metadata(of: .object($0), at: 7).objectValue }
        let merged = ShadowRules.mergeMetadata(stamped, state: before, update: parseJSON(c.update), at: 7)
        let expected = section(c.after).flatMap { ShadowRules.metadata(of: .object($0), at: 7).objectValue }
        #expect(merged == expected)
    }

    @Test(arguments: [
        ("null", "null"), ("true", "true"), ("1.5", "1.5"), (#""text""#, #""text""#), (#"{"a": {"b": 1}}"#, #"{"a": {"b": 1}}"#),
    ])
    func withoutNullsRemovesOnlyNullMembers(_ input: String, _ expected: String) {
        #expect(ShadowRules.withoutNulls(parseJSON(input)) == parseJSON(expected))
    }

    @Test func withoutNullsRecursesIntoObjectsButNotArrays() {
        #expect(ShadowRules.withoutNulls(parseJSON(#"{"a": null, "b": {"c": null, "d": [null, {"e": null}]}}"#))
            == parseJSON(#"{"b": {"d": [null, {"e": null}]}}"#))
    }
}

// MARK: - Metadata

@Suite struct ShadowMetadataTests {
    @Test(arguments: [
        ("1", #"{"timestamp": 42}"#),
        (#""red""#, #"{"timestamp": 42}"#),
        ("false", #"{"timestamp": 42}"#),
        ("null", #"{"timestamp": 42}"#),
        (#"{"color": "red", "lights": {"level": 5, "on": true}}"#,
         #"{"color": {"timestamp": 42}, "lights": {"level": {"timestamp": 42}, "on": {"timestamp": 42}}}"#),
        (#"["red", "green"]"#, #"[{"timestamp": 42}, {"timestamp": 42}]"#),
        (#"[{"a": 1}, [2], 3]"#, #"[{"a": {"timestamp": 42}}, [{"timestamp": 42}], {"timestamp": 42}]"#),
        ("{}", "{}"),
        ("[]", "[]"),
    ])
    func metadataOfAValue(_ value: String, _ expected: String) {
        #expect(ShadowRules.metadata(of: parseJSON(value), at: 42) == parseJSON(expected))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var metadata: String?
        var state: String?
        var update: String
        var expected: String?
        var testDescription: String { name }
    }

    @Test(arguments: [
        Case(name: "new section", metadata: nil, state: nil, update: #"{"color": "red"}"#,
             expected: #"{"color": {"timestamp": 2}}"#),
        Case(name: "written key restamped, others kept", metadata: #"{"color": {"timestamp": 1}, "power": {"timestamp": 1}}"#,
             state: #"{"color": "red", "power": "on"}"#, update: #"{"color": "green"}"#,
             expected: #"{"color": {"timestamp": 2}, "power": {"timestamp": 1}}"#),
        Case(name: "same value written is restamped", metadata: #"{"color": {"timestamp": 1}}"#, state: #"{"color": "red"}"#,
             update: #"{"color": "red"}"#, expected: #"{"color": {"timestamp": 2}}"#),
        Case(name: "deleted key loses its metadata", metadata: #"{"color": {"timestamp": 1}, "power": {"timestamp": 1}}"#,
             state: #"{"color": "red", "power": "on"}"#, update: #"{"power": null}"#, expected: #"{"color": {"timestamp": 1}}"#),
        Case(name: "nested write keeps sibling stamps",
             metadata: #"{"lights": {"color": {"timestamp": 1}, "level": {"timestamp": 1}}}"#,
             state: #"{"lights": {"color": "red", "level": 5}}"#, update: #"{"lights": {"level": 7}}"#,
             expected: #"{"lights": {"color": {"timestamp": 1}, "level": {"timestamp": 2}}}"#),
        Case(name: "nested delete", metadata: #"{"lights": {"color": {"timestamp": 1}, "level": {"timestamp": 1}}}"#,
             state: #"{"lights": {"color": "red", "level": 5}}"#, update: #"{"lights": {"level": null}}"#,
             expected: #"{"lights": {"color": {"timestamp": 1}}}"#),
        Case(name: "array replaced element by element", metadata: #"{"colors": [{"timestamp": 1}, {"timestamp": 1}]}"#,
             state: #"{"colors": ["red", "green"]}"#, update: #"{"colors": ["blue"]}"#,
             expected: #"{"colors": [{"timestamp": 2}]}"#),
        Case(name: "object over scalar, nulls dropped", metadata: #"{"a": {"timestamp": 1}}"#, state: #"{"a": 5}"#,
             update: #"{"a": {"x": 1, "y": null}}"#, expected: #"{"a": {"x": {"timestamp": 2}}}"#),
        Case(name: "scalar over object", metadata: #"{"a": {"x": {"timestamp": 1}}}"#, state: #"{"a": {"x": 1}}"#,
             update: #"{"a": 5}"#, expected: #"{"a": {"timestamp": 2}}"#),
        Case(name: "array of objects", metadata: nil, state: nil, update: #"{"list": [{"a": 1}, 2]}"#,
             expected: #"{"list": [{"a": {"timestamp": 2}}, {"timestamp": 2}]}"#),
        Case(name: "null section clears", metadata: #"{"color": {"timestamp": 1}}"#, state: #"{"color": "red"}"#,
             update: "null", expected: nil),
    ])
    func mergeMetadata(_ c: Case) {
        let merged = ShadowRules.mergeMetadata(section(c.metadata), state: section(c.state), update: parseJSON(c.update), at: 2)
        #expect(merged == section(c.expected))
    }
}

// MARK: - Delta

@Suite struct ShadowDeltaTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var desired: String?
        var reported: String?
        var delta: String
        var testDescription: String { name }
    }

    @Test(arguments: [
        // The AWS "delta state" example.
        Case(name: "AWS example", desired: #"{"color": "RED", "state": "STOP"}"#, reported: #"{"color": "GREEN", "engine": "ON"}"#,
             delta: #"{"color": "RED", "state": "STOP"}"#),
        Case(name: "equal sections", desired: #"{"color": "red"}"#, reported: #"{"color": "red"}"#, delta: "{}"),
        Case(name: "no reported section", desired: #"{"color": "red", "a": {"b": 1}}"#, reported: nil,
             delta: #"{"color": "red", "a": {"b": 1}}"#),
        Case(name: "no desired section", desired: nil, reported: #"{"color": "red"}"#, delta: "{}"),
        Case(name: "neither section", desired: nil, reported: nil, delta: "{}"),
        Case(name: "reported-only keys are not in the delta", desired: #"{"a": 1}"#, reported: #"{"a": 1, "b": 2}"#, delta: "{}"),
        Case(name: "nested objects reduced to differing leaves",
             desired: #"{"lights": {"color": "red", "level": 5}}"#, reported: #"{"lights": {"color": "green", "level": 5}}"#,
             delta: #"{"lights": {"color": "red"}}"#),
        Case(name: "nested equal objects are left out", desired: #"{"lights": {"color": "red"}, "x": 1}"#,
             reported: #"{"lights": {"color": "red", "extra": true}, "x": 2}"#, delta: #"{"x": 1}"#),
        Case(name: "nested key missing from reported", desired: #"{"lights": {"color": "red"}}"#, reported: #"{"lights": {}}"#,
             delta: #"{"lights": {"color": "red"}}"#),
        Case(name: "three levels deep", desired: #"{"a": {"b": {"c": 1, "d": 2}, "e": 3}}"#,
             reported: #"{"a": {"b": {"c": 1, "d": 3}, "e": 3}}"#, delta: #"{"a": {"b": {"d": 2}}}"#),
        Case(name: "object against scalar is whole", desired: #"{"a": {"x": 1, "y": 2}}"#, reported: #"{"a": 5}"#,
             delta: #"{"a": {"x": 1, "y": 2}}"#),
        Case(name: "scalar against object", desired: #"{"a": 5}"#, reported: #"{"a": {"x": 1}}"#, delta: #"{"a": 5}"#),
        Case(name: "equal arrays", desired: #"{"colors": ["red", "green"]}"#, reported: #"{"colors": ["red", "green"]}"#,
             delta: "{}"),
        Case(name: "array order matters", desired: #"{"colors": ["red", "green"]}"#, reported: #"{"colors": ["green", "red"]}"#,
             delta: #"{"colors": ["red", "green"]}"#),
        Case(name: "arrays compared whole", desired: #"{"colors": ["red", "green", "blue"]}"#,
             reported: #"{"colors": ["red", "green", "white"]}"#, delta: #"{"colors": ["red", "green", "blue"]}"#),
        Case(name: "shorter array differs", desired: #"{"colors": ["red"]}"#, reported: #"{"colors": ["red", "green"]}"#,
             delta: #"{"colors": ["red"]}"#),
        Case(name: "objects inside arrays compared by content", desired: #"{"a": [{"x": 1, "y": 2}]}"#,
             reported: #"{"a": [{"y": 2, "x": 1}]}"#, delta: "{}"),
        Case(name: "objects inside arrays differ whole", desired: #"{"a": [{"x": 1, "y": 2}]}"#,
             reported: #"{"a": [{"x": 1, "y": 3}]}"#, delta: #"{"a": [{"x": 1, "y": 2}]}"#),
        Case(name: "1 equals 1.0", desired: #"{"n": 1, "m": 2.0}"#, reported: #"{"n": 1.0, "m": 2}"#, delta: "{}"),
        Case(name: "1 equals 1.0 inside arrays", desired: #"{"a": [1, [2, 3]]}"#, reported: #"{"a": [1.0, [2, 3.0]]}"#,
             delta: "{}"),
        Case(name: "1.5 differs from 1", desired: #"{"n": 1.5}"#, reported: #"{"n": 1}"#, delta: #"{"n": 1.5}"#),
        Case(name: "number differs from string", desired: #"{"n": 1}"#, reported: #"{"n": "1"}"#, delta: #"{"n": 1}"#),
        Case(name: "true differs from 1", desired: #"{"b": true}"#, reported: #"{"b": 1}"#, delta: #"{"b": true}"#),
        Case(name: "false differs from true", desired: #"{"b": false}"#, reported: #"{"b": true}"#, delta: #"{"b": false}"#),
        Case(name: "string case matters", desired: #"{"s": "Red"}"#, reported: #"{"s": "red"}"#, delta: #"{"s": "Red"}"#),
    ])
    func delta(_ c: Case) {
        let desired = section(c.desired)
        let metadata = desired.flatMap { ShadowRules.metadata(of: .object($0), at: 3).objectValue }
        let result = ShadowRules.delta(desired: desired, reported: section(c.reported), metadata: metadata)
        #expect(result.state == members(c.delta))
        // The delta's metadata is the desired metadata of exactly what is in it.
        #expect(.object(result.metadata) == ShadowRules.metadata(of: .object(result.state), at: 3))
    }

    @Test func deltaCarriesTheDesiredMetadataOfItsKeys() {
        let desired = members(#"{"color": "red", "lights": {"level": 5, "on": true}, "list": [1, 2], "same": 0}"#)
        let reported = members(#"{"color": "green", "lights": {"level": 5, "on": false}, "same": 0}"#)
        let metadata = members("""
            {"color": {"timestamp": 1}, "lights": {"level": {"timestamp": 2}, "on": {"timestamp": 3}},
             "list": [{"timestamp": 4}, {"timestamp": 4}], "same": {"timestamp": 5}}
            """)
        let result = ShadowRules.delta(desired: desired, reported: reported, metadata: metadata)
        #expect(result.state == members(#"{"color": "red", "lights": {"on": true}, "list": [1, 2]}"#))
        #expect(result.metadata == members(
            #"{"color": {"timestamp": 1}, "lights": {"on": {"timestamp": 3}}, "list": [{"timestamp": 4}, {"timestamp": 4}]}"#))
    }

    @Test(arguments: [
        ("1", "1.0", true), ("1", "1", true), ("0", "-0.0", true), ("1", "2", false), ("1.25", "1.25", true),
        (#""a""#, #""a""#, true), (#""a""#, #""b""#, false), ("null", "null", true), ("null", "false", false),
        ("true", "true", true), ("[1, 2]", "[1.0, 2]", true), ("[1, 2]", "[2, 1]", false), ("[1]", "[1, 1]", false),
        (#"{"a": 1, "b": 2}"#, #"{"b": 2.0, "a": 1}"#, true), (#"{"a": 1}"#, #"{"a": 1, "b": 2}"#, false),
        (#"{"a": 1, "b": 2}"#, #"{"a": 1}"#, false), (#"{"a": 1}"#, #"{"b": 1}"#, false), ("{}", "[]", false),
        (#"{"a": {"b": [1, {"c": 2}]}}"#, #"{"a": {"b": [1.0, {"c": 2.0}]}}"#, true),
    ])
    func equivalent(_ lhs: String, _ rhs: String, _ expected: Bool) {
        #expect(ShadowRules.equivalent(parseJSON(lhs), parseJSON(rhs)) == expected)
        #expect(ShadowRules.equivalent(parseJSON(rhs), parseJSON(lhs)) == expected)
    }
}

// MARK: - Nesting depth

/// `{"k1": {"k2": … {"kN": leaf}}}`.
func nestedKeys(_ levels: Int, leaf: String = "1") -> String {
    var text = leaf
    for level in stride(from: levels, through: 1, by: -1) { text = "{\"k\(level)\": \(text)}" }
    return text
}

@Suite struct ShadowDepthTests {
    @Test(arguments: [
        ("1", 0), (#""x""#, 0), ("{}", 1), ("[]", 1), (#"{"a": 1}"#, 1), (#"{"a": {"b": 1}}"#, 2), ("[[1]]", 2),
        (#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#, 4),
    ])
    func depth(_ value: String, _ expected: Int) {
        #expect(ShadowRules.depth(of: parseJSON(value)) == expected)
    }

    @Test(arguments: 1...6)
    func keysUpToSixLevelsBelowTheSectionAreAllowed(_ levels: Int) {
        #expect(ShadowRules.tooDeepPath(in: parseJSON(nestedKeys(levels)), limit: 6, path: "state.desired") == nil)
        #expect(ShadowRules.tooDeepPath(in: parseJSON(nestedKeys(levels, leaf: "{}")), limit: 6, path: "state.desired") == nil)
    }

    @Test(arguments: 7...9)
    func aKeySevenLevelsBelowTheSectionIsNamed(_ levels: Int) {
        let path = "state.reported." + (1...7).map { "k\($0)" }.joined(separator: ".")
        #expect(ShadowRules.tooDeepPath(in: parseJSON(nestedKeys(levels)), limit: 6, path: "state.reported") == path)
    }

    @Test func theFirstTooDeepKeyInSortedOrderIsNamed() {
        let value = parseJSON(#"{"b": \#(nestedKeys(6)), "a": {"z": 1}, "c": \#(nestedKeys(6))}"#)
        #expect(ShadowRules.tooDeepPath(in: value, limit: 6, path: "s") == "s.b.k1.k2.k3.k4.k5.k6")
    }
}

// MARK: - Merge patch

@Suite struct ShadowPatchTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var old: String?
        var new: String
        var patch: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "from nothing", old: nil, new: #"{"a": 1, "b": {"c": 2}}"#, patch: #"{"a": 1, "b": {"c": 2}}"#),
        Case(name: "from nothing to nothing", old: nil, new: "{}", patch: nil),
        Case(name: "equal", old: #"{"a": 1, "b": {"c": [1, 2]}}"#, new: #"{"a": 1, "b": {"c": [1, 2]}}"#, patch: nil),
        Case(name: "1 and 1.0 are equal", old: #"{"a": 1}"#, new: #"{"a": 1.0}"#, patch: nil),
        Case(name: "changed value", old: #"{"a": 1, "b": 2}"#, new: #"{"a": 1, "b": 3}"#, patch: #"{"b": 3}"#),
        Case(name: "added key", old: #"{"a": 1}"#, new: #"{"a": 1, "b": 2}"#, patch: #"{"b": 2}"#),
        Case(name: "removed key is null", old: #"{"a": 1, "b": 2}"#, new: #"{"a": 1}"#, patch: #"{"b": null}"#),
        Case(name: "all keys removed", old: #"{"a": 1, "b": {"c": 2}}"#, new: "{}", patch: #"{"a": null, "b": null}"#),
        Case(name: "nested change", old: #"{"a": {"x": 1, "y": 2}}"#, new: #"{"a": {"x": 1, "y": 3}}"#, patch: #"{"a": {"y": 3}}"#),
        Case(name: "nested removal", old: #"{"a": {"x": 1, "y": 2}}"#, new: #"{"a": {"x": 1}}"#, patch: #"{"a": {"y": null}}"#),
        Case(name: "nested emptied", old: #"{"a": {"x": 1}}"#, new: #"{"a": {}}"#, patch: #"{"a": {"x": null}}"#),
        Case(name: "deep nested", old: #"{"a": {"b": {"c": 1, "d": 2}}, "e": 1}"#, new: #"{"a": {"b": {"c": 1, "d": 5}}, "e": 1}"#,
             patch: #"{"a": {"b": {"d": 5}}}"#),
        Case(name: "object to scalar", old: #"{"a": {"x": 1}}"#, new: #"{"a": 5}"#, patch: #"{"a": 5}"#),
        Case(name: "scalar to object", old: #"{"a": 5}"#, new: #"{"a": {"x": 1}}"#, patch: #"{"a": {"x": 1}}"#),
        Case(name: "array changed whole", old: #"{"a": [1, 2, 3]}"#, new: #"{"a": [1, 2, 4]}"#, patch: #"{"a": [1, 2, 4]}"#),
        Case(name: "array reordered", old: #"{"a": [1, 2]}"#, new: #"{"a": [2, 1]}"#, patch: #"{"a": [2, 1]}"#),
        Case(name: "array to object", old: #"{"a": [1]}"#, new: #"{"a": {"x": 1}}"#, patch: #"{"a": {"x": 1}}"#),
        Case(name: "mixed", old: #"{"keep": 1, "drop": 2, "obj": {"in": 1, "out": 2}}"#,
             new: #"{"keep": 1, "add": 3, "obj": {"in": 1, "new": 4}}"#,
             patch: #"{"drop": null, "add": 3, "obj": {"out": null, "new": 4}}"#),
    ]

    @Test(arguments: cases)
    func patch(_ c: Case) {
        #expect(ShadowRules.patch(from: section(c.old), to: members(c.new)) == section(c.patch))
    }

    /// Applying the patch to the old section as a shadow update gives the new section.
    @Test(arguments: cases)
    func patchMergedIntoOldGivesNew(_ c: Case) throws {
        let old = section(c.old)
        let new = members(c.new)
        guard let patch = ShadowRules.patch(from: old, to: new) else {
            #expect(ShadowRules.equivalent(.object(old ?? [:]), .object(new)))
            return
        }
        let merged = try #require(ShadowRules.merge(old, with: .object(patch)))
        #expect(ShadowRules.equivalent(.object(merged), .object(new)))
    }
}

// MARK: - Size

@Suite struct ShadowSizeTests {
    /// compactSize counts the bytes the agent's own serializer writes.
    @Test(arguments: [
        "null", "true", "false", "0", "-12", "9223372036854775807", "1.5", "-0.25", "1e-07", #""""#, #""plain""#,
        #""quote \" backslash \\ slash /""#, #""tab\t newline\n cr\r bs\b ff\f""#, #""ctl\u0001\u001f""#, #""ünïcødé 日本 🎉""#,
        "[]", "[1, 2, 3]", "{}", #"{"a": 1}"#, #"{"a": 1, "b": [true, null, "x"], "c": {"d": {}}}"#, #"{"ключ": "é\n"}"#,
    ])
    func compactSizeMatchesTheSerializer(_ text: String) {
        let value = parseJSON(text)
        #expect(value.compactSize == JSONCodec.text(value).utf8.count)
    }

    @Test func stateSizeCountsBothSectionsAndNotMetadata() {
        var document = ShadowDocument()
        #expect(document.stateSize == 0)
        document.desired = members(#"{"color": "red"}"#)
        #expect(document.stateSize == 15)
        document.reported = members(#"{"color": "green"}"#)
        #expect(document.stateSize == 15 + 17)
        document.desiredMetadata = members(#"{"color": {"timestamp": 1}}"#)
        #expect(document.stateSize == 32)
    }
}
