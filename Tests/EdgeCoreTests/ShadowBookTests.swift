import Testing
@testable import EdgeCore

/// `{"state": {"desired": {"k": "xxx…"}}}` whose desired section is exactly `bytes` of compact JSON.
private func desiredOfSize(_ bytes: Int, section: String = "desired") -> String {
    // {"k":"…"} is 8 bytes around the value.
    #"{"state": {"\#(section)": {"k": "\#(String(repeating: "x", count: bytes - 8))"}}}"#
}

// MARK: - The AWS walkthrough

@Suite struct ShadowWalkthroughTests {
    /// The sequence of the AWS Device Shadow data-flow walkthrough, on the classic shadow of t1.
    @Test func desiredReportedDeltaClearDeleteAndRecreate() throws {
        var book = ShadowBook(thing: "t1")

        // The device reports green: no desired section, so no delta.
        var out = book.send(.update, #"{"state": {"reported": {"color": "green"}}, "clientToken": "c1"}"#, now: 100)
        #expect(out.error == nil)
        #expect(out.suffixes.sorted() == ["update/accepted", "update/documents"])
        #expect(out.message("update/accepted") == parseJSON("""
            {"state": {"reported": {"color": "green"}}, "metadata": {"reported": {"color": {"timestamp": 100}}},
             "version": 1, "timestamp": 100, "clientToken": "c1"}
            """))
        #expect(out.message("update/documents") == parseJSON("""
            {"previous": null,
             "current": {"state": {"reported": {"color": "green"}}, "metadata": {"reported": {"color": {"timestamp": 100}}}, "version": 1},
             "timestamp": 100, "clientToken": "c1"}
            """))
        #expect(out.changed?.version == 1)
        #expect(out.changed?.exists == true)

        // An app asks for red: reported is green, so the delta is {color: red}.
        out = book.send(.update, #"{"state": {"desired": {"color": "red"}}, "clientToken": "c2"}"#, now: 200)
        #expect(out.suffixes.sorted() == ["update/accepted", "update/delta", "update/documents"])
        #expect(out.message("update/delta") == parseJSON("""
            {"state": {"color": "red"}, "metadata": {"color": {"timestamp": 200}}, "version": 2, "timestamp": 200, "clientToken": "c2"}
            """))
        #expect(out.message("update/accepted") == parseJSON("""
            {"state": {"desired": {"color": "red"}}, "metadata": {"desired": {"color": {"timestamp": 200}}},
             "version": 2, "timestamp": 200, "clientToken": "c2"}
            """))
        #expect(out.message("update/documents") == parseJSON("""
            {"previous": {"state": {"reported": {"color": "green"}}, "metadata": {"reported": {"color": {"timestamp": 100}}}, "version": 1},
             "current": {"state": {"desired": {"color": "red"}, "reported": {"color": "green"}},
                         "metadata": {"desired": {"color": {"timestamp": 200}}, "reported": {"color": {"timestamp": 100}}}, "version": 2},
             "timestamp": 200, "clientToken": "c2"}
            """))

        out = book.send(.get, #"{"clientToken": "g1"}"#, now: 250)
        #expect(out.suffixes == ["get/accepted"])
        #expect(out.changed == nil)
        #expect(out.message("get/accepted") == parseJSON("""
            {"state": {"desired": {"color": "red"}, "reported": {"color": "green"}, "delta": {"color": "red"}},
             "metadata": {"desired": {"color": {"timestamp": 200}}, "reported": {"color": {"timestamp": 100}}},
             "version": 2, "timestamp": 250, "clientToken": "g1"}
            """))

        // The device turns red and reports it: no delta is left.
        out = book.send(.update, #"{"state": {"reported": {"color": "red"}}}"#, now: 300)
        #expect(out.suffixes.sorted() == ["update/accepted", "update/documents"])
        #expect(out.message("update/accepted") == parseJSON("""
            {"state": {"reported": {"color": "red"}}, "metadata": {"reported": {"color": {"timestamp": 300}}}, "version": 3, "timestamp": 300}
            """))
        out = book.send(.get, nil, now: 350)
        #expect(out.message("get/accepted") == parseJSON("""
            {"state": {"desired": {"color": "red"}, "reported": {"color": "red"}},
             "metadata": {"desired": {"color": {"timestamp": 200}}, "reported": {"color": {"timestamp": 300}}},
             "version": 3, "timestamp": 350}
            """))

        // The device clears desired as it reports.
        out = book.send(.update, #"{"state": {"reported": {"color": "red"}, "desired": null}}"#, now: 400)
        #expect(out.suffixes.sorted() == ["update/accepted", "update/documents"])
        #expect(out.message("update/accepted") == parseJSON("""
            {"state": {"reported": {"color": "red"}, "desired": null},
             "metadata": {"reported": {"color": {"timestamp": 400}}, "desired": {"timestamp": 400}},
             "version": 4, "timestamp": 400}
            """))
        #expect(out.changed?.desired == nil)
        #expect(out.changed?.desiredMetadata == nil)
        out = book.send(.get, nil, now: 450)
        #expect(out.message("get/accepted") == parseJSON("""
            {"state": {"reported": {"color": "red"}}, "metadata": {"reported": {"color": {"timestamp": 400}}},
             "version": 4, "timestamp": 450}
            """))

        // Delete: the shadow is gone, its version kept as a tombstone.
        out = book.send(.delete, #"{"clientToken": "d1"}"#, now: 500)
        #expect(out.error == nil)
        #expect(out.suffixes == ["delete/accepted"])
        #expect(out.message("delete/accepted") == parseJSON(#"{"version": 4, "timestamp": 500, "clientToken": "d1"}"#))
        let tombstone = try #require(out.changed)
        #expect(tombstone.exists == false)
        #expect(tombstone.version == 4)
        #expect(tombstone.desired == nil && tombstone.reported == nil)
        #expect(book.document(nil) == nil)

        out = book.send(.get, nil, now: 550)
        #expect(out.error == .notFound("t1"))
        #expect(out.suffixes == ["get/rejected"])
        #expect(out.message("get/rejected") == parseJSON(#"{"code": 404, "message": "No shadow exists with name: 't1'", "timestamp": 550}"#))
        out = book.send(.delete, nil, now: 560)
        #expect(out.suffixes == ["delete/rejected"])
        #expect(out.error?.code == 404)
        #expect(out.changed == nil)

        // Made again, it continues from the tombstone's version and starts empty.
        out = book.send(.update, #"{"state": {"reported": {"color": "blue"}}}"#, now: 600)
        #expect(out.error == nil)
        #expect(out.message("update/documents") == parseJSON("""
            {"previous": null,
             "current": {"state": {"reported": {"color": "blue"}}, "metadata": {"reported": {"color": {"timestamp": 600}}}, "version": 5},
             "timestamp": 600}
            """))
        #expect(book.document(nil)?.version == 5)
        #expect(book.document(nil)?.desired == nil)
    }
}

// MARK: - Update

@Suite struct ShadowUpdateTests {
    @Test func acceptedEchoesOnlyTheRequestAndDocumentsHoldTheWhole() {
        var book = ShadowBook(thing: "t1")
        _ = book.send(.update, #"{"state": {"desired": {"color": "red", "power": "on", "lights": {"level": 5, "hue": 1}}}}"#, now: 10)
        let out = book.send(.update, #"{"state": {"desired": {"power": "off", "lights": {"level": null}}}, "clientToken": "x"}"#,
                            now: 20)
        #expect(out.message("update/accepted") == parseJSON("""
            {"state": {"desired": {"power": "off", "lights": {"level": null}}},
             "metadata": {"desired": {"power": {"timestamp": 20}, "lights": {"level": {"timestamp": 20}}}},
             "version": 2, "timestamp": 20, "clientToken": "x"}
            """))
        let current = """
            {"state": {"desired": {"color": "red", "power": "off", "lights": {"hue": 1}}},
             "metadata": {"desired": {"color": {"timestamp": 10}, "power": {"timestamp": 20}, "lights": {"hue": {"timestamp": 10}}}},
             "version": 2}
            """
        #expect(out.message("update/documents")?["current"] == parseJSON(current))
        #expect(out.message("update/documents")?["previous"] == parseJSON("""
            {"state": {"desired": {"color": "red", "power": "on", "lights": {"level": 5, "hue": 1}}},
             "metadata": {"desired": {"color": {"timestamp": 10}, "power": {"timestamp": 10},
                                      "lights": {"level": {"timestamp": 10}, "hue": {"timestamp": 10}}}},
             "version": 1}
            """))
        #expect(out.message("update/delta") == parseJSON("""
            {"state": {"color": "red", "power": "off", "lights": {"hue": 1}},
             "metadata": {"color": {"timestamp": 10}, "power": {"timestamp": 20}, "lights": {"hue": {"timestamp": 10}}},
             "version": 2, "timestamp": 20, "clientToken": "x"}
            """))
    }

    @Test func theOutcomeCarriesTheShadowToSaveAndTheAcceptedRequest() throws {
        var book = ShadowBook(thing: "t1")
        let out = book.send(.update, #"{"state": {"desired": {"a": 1}}, "clientToken": "tok", "version": 0}"#, now: 7)
        let changed = try #require(out.changed)
        #expect(changed == book.shadows[nil])
        #expect(changed.exists)
        #expect(changed.version == 1)
        #expect(changed.timestamp == 7)
        #expect(changed.desired == members(#"{"a": 1}"#))
        #expect(changed.desiredMetadata == members(#"{"a": {"timestamp": 7}}"#))
        #expect(changed.reported == nil)
        #expect(out.accepted == ShadowRequest(desired: parseJSON(#"{"a": 1}"#), clientToken: "tok", version: 0))
    }

    struct DeltaCase: Sendable, CustomTestStringConvertible {
        var name: String
        var setup: [String]
        var request: String
        /// The state of the /update/delta message, nil when none goes out.
        var delta: String?
        /// The delta /get/accepted shows afterwards.
        var standing: String?
        var testDescription: String { name }

        init(name: String, setup: [String], request: String, delta: String?, standing: String?? = .none) {
            self.name = name
            self.setup = setup
            self.request = request
            self.delta = delta
            self.standing = standing ?? delta
        }
    }

    @Test(arguments: [
        DeltaCase(name: "desired differs from reported", setup: [#"{"reported": {"color": "green"}}"#],
                  request: #"{"desired": {"color": "red"}}"#, delta: #"{"color": "red"}"#),
        DeltaCase(name: "desired equals reported", setup: [#"{"reported": {"color": "red"}}"#],
                  request: #"{"desired": {"color": "red"}}"#, delta: nil),
        DeltaCase(name: "desired with nothing reported", setup: [], request: #"{"desired": {"a": 1, "b": [1]}}"#,
                  delta: #"{"a": 1, "b": [1]}"#),
        DeltaCase(name: "a reported-only request sends no delta", setup: [#"{"desired": {"color": "red"}}"#],
                  request: #"{"reported": {"color": "green"}}"#, delta: nil, standing: #"{"color": "red"}"#),
        DeltaCase(name: "desired and reported equal in one request", setup: [],
                  request: #"{"desired": {"a": 1}, "reported": {"a": 1}}"#, delta: nil),
        DeltaCase(name: "desired and reported different in one request", setup: [],
                  request: #"{"desired": {"a": 1}, "reported": {"a": 2}}"#, delta: #"{"a": 1}"#),
        DeltaCase(name: "desired cleared", setup: [#"{"desired": {"a": 1}}"#], request: #"{"desired": null}"#, delta: nil),
        DeltaCase(name: "the only differing key deleted", setup: [#"{"desired": {"a": 1, "b": 2}}"#, #"{"reported": {"a": 0, "b": 2}}"#],
                  request: #"{"desired": {"a": null}}"#, delta: nil),
        DeltaCase(name: "one key deleted, another still differs", setup: [#"{"desired": {"a": 1, "b": 2}}"#],
                  request: #"{"desired": {"a": null}}"#, delta: #"{"b": 2}"#),
        DeltaCase(name: "the delta holds every difference, not only the request's",
                  setup: [#"{"desired": {"a": 1, "b": 2}}"#, #"{"reported": {"b": 2}}"#],
                  request: #"{"desired": {"b": 2}}"#, delta: #"{"a": 1}"#),
        DeltaCase(name: "nested leaves only", setup: [#"{"reported": {"lights": {"color": "green", "level": 5}}}"#],
                  request: #"{"desired": {"lights": {"color": "red", "level": 5}}}"#, delta: #"{"lights": {"color": "red"}}"#),
        DeltaCase(name: "1.0 desired, 1 reported", setup: [#"{"reported": {"n": 1}}"#], request: #"{"desired": {"n": 1.0}}"#,
                  delta: nil),
        DeltaCase(name: "array order", setup: [#"{"reported": {"l": [1, 2]}}"#], request: #"{"desired": {"l": [2, 1]}}"#,
                  delta: #"{"l": [2, 1]}"#),
    ])
    func deltaIsPublished(_ c: DeltaCase) {
        var book = ShadowBook(thing: "t1")
        for (index, state) in c.setup.enumerated() {
            #expect(book.send(.update, #"{"state": \#(state)}"#, now: Int64(index + 1)).error == nil)
        }
        let out = book.send(.update, #"{"state": \#(c.request)}"#, now: 100)
        #expect(out.error == nil)
        let version = Int64(c.setup.count + 1)
        if let delta = c.delta {
            #expect(out.suffixes.sorted() == ["update/accepted", "update/delta", "update/documents"])
            #expect(out.message("update/delta")?["state"] == parseJSON(delta))
            #expect(out.message("update/delta")?["version"] == .int(version))
            #expect(out.message("update/delta")?["timestamp"] == 100)
        } else {
            #expect(out.suffixes.sorted() == ["update/accepted", "update/documents"])
        }
        // get/accepted shows the same delta, or none.
        let document = book.send(.get, nil, now: 200).message("get/accepted")
        #expect(document?["state"]?["delta"] == c.standing.map { parseJSON($0) })
        #expect(document?["version"] == .int(version))
    }

    @Test func versionsCountUpFromOne() {
        var book = ShadowBook(thing: "t1")
        for expected in Int64(1)...5 {
            let out = book.send(.update, #"{"state": {"reported": {"n": \#(expected)}}}"#, now: expected)
            #expect(out.message("update/accepted")?["version"] == .int(expected))
            #expect(out.message("update/documents")?["current"]?["version"] == .int(expected))
        }
        #expect(book.document(nil)?.version == 5)
        #expect(book.send(.get, nil, now: 9).message("get/accepted")?["version"] == 5)
    }

    @Test func aMatchingVersionIsAcceptedAndAnyOtherConflicts() throws {
        var book = ShadowBook(thing: "t1")
        _ = book.send(.update, #"{"state": {"reported": {"a": 1}}}"#, now: 1)
        _ = book.send(.update, #"{"state": {"reported": {"a": 2}}}"#, now: 2)
        let saved = book.shadows

        for stale in [0, 1, 3, 100] {
            let out = book.send(.update, #"{"state": {"reported": {"a": 3}}, "version": \#(stale), "clientToken": "v"}"#, now: 3)
            #expect(out.error == .versionConflict(current: 2))
            #expect(out.suffixes == ["update/rejected"])
            #expect(out.message("update/rejected") == parseJSON("""
                {"code": 409, "message": "Version conflict", "timestamp": 3, "clientToken": "v",
                 "detail": "the shadow is at version 2; get it, then send that version"}
                """))
            #expect(out.changed == nil)
            #expect(out.accepted == nil)
            #expect(book.shadows == saved)
        }

        let out = book.send(.update, #"{"state": {"reported": {"a": 3}}, "version": 2}"#, now: 4)
        #expect(out.error == nil)
        #expect(out.message("update/accepted")?["version"] == 3)
    }

    @Test func aVersionOnANewShadowMustBeZero() {
        var book = ShadowBook(thing: "t1")
        let out = book.send(.update, #"{"state": {"reported": {"a": 1}}, "version": 1}"#, now: 1)
        #expect(out.error == .versionConflict(current: 0))
        #expect(book.document(nil) == nil)
        #expect(book.send(.update, #"{"state": {"reported": {"a": 1}}, "version": 0}"#, now: 2).error == nil)
        #expect(book.document(nil)?.version == 1)
    }

    @Test func theStateLimitIsEightKilobytesOfCompactJSON() throws {
        var book = ShadowBook(thing: "t1")
        var out = book.send(.update, desiredOfSize(8192), now: 1)
        #expect(out.error == nil)
        #expect(book.document(nil)?.stateSize == 8192)

        out = book.send(.update, #"{"state": {"desired": {"k": null}}}"#, now: 2)
        #expect(out.error == nil)
        out = book.send(.update, #"{"state": {"desired": {"k": "\#(String(repeating: "x", count: 8193 - 8))"}}, "clientToken": "big"}"#,
                        now: 3)
        #expect(out.error?.code == 413)
        #expect(out.error?.message == "The payload exceeds the maximum size allowed")
        #expect(out.suffixes == ["update/rejected"])
        #expect(out.message("update/rejected")?["code"] == 413)
        #expect(out.message("update/rejected")?["clientToken"] == "big")
        #expect(out.changed == nil)
        #expect(book.document(nil)?.version == 2)
        #expect(book.document(nil)?.desired?["k"] == nil)
    }

    @Test func theLimitCountsDesiredAndReportedTogether() {
        var book = ShadowBook(thing: "t1")
        #expect(book.send(.update, desiredOfSize(4000, section: "reported"), now: 1).error == nil)
        #expect(book.send(.update, desiredOfSize(4193), now: 2).error?.code == 413)
        #expect(book.document(nil)?.desired == nil)
        #expect(book.send(.update, desiredOfSize(4192), now: 3).error == nil)
        #expect(book.document(nil)?.stateSize == 8192)
        // Metadata does not count: restamping the same values is still within the limit.
        #expect(book.send(.update, desiredOfSize(4192), now: 4).error == nil)
        // Growing one side past the limit is refused even when the request itself is small.
        #expect(book.send(.update, #"{"state": {"reported": {"more": 1}}}"#, now: 5).error?.code == 413)
    }

    @Test func aNewShadowOverTheLimitIsNotCreated() {
        var book = ShadowBook(thing: "t1")
        let out = book.send(.update, desiredOfSize(9000), name: "big", now: 1)
        #expect(out.error?.code == 413)
        #expect(book.shadows["big"] == nil)
        #expect(book.document("big") == nil)
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var operation: ShadowBook.Operation
        var payload: String
        var message: String
        var clientToken: String?
        var testDescription: String { "\(operation.rawValue) \(payload)" }
    }

    @Test(arguments: [
        Refusal(operation: .update, payload: "[1]", message: "Invalid JSON", clientToken: nil),
        Refusal(operation: .update, payload: #"{"clientToken": "a"}"#, message: "Missing required node: state", clientToken: "a"),
        Refusal(operation: .update, payload: #"{"state": {"desired": 1}, "clientToken": "b"}"#,
                message: "Desired node must be an object", clientToken: "b"),
        Refusal(operation: .update, payload: #"{"state": {"reported": {}}, "version": -1, "clientToken": "c"}"#,
                message: "Invalid version", clientToken: "c"),
        Refusal(operation: .get, payload: #"{"clientToken": 1}"#, message: "Invalid clientToken", clientToken: nil),
        Refusal(operation: .get, payload: "[]", message: "Invalid JSON", clientToken: nil),
        Refusal(operation: .delete, payload: #"{"clientToken": "d", "version": "x"}"#, message: "Invalid version", clientToken: "d"),
    ])
    func refusedRequestsAreRejectedWithoutChange(_ c: Refusal) throws {
        var book = ShadowBook(thing: "t1")
        _ = book.send(.update, #"{"state": {"reported": {"a": 1}}}"#, now: 1)
        let saved = book.shadows
        let out = book.send(c.operation, c.payload, now: 9)
        #expect(out.suffixes == ["\(c.operation.rawValue)/rejected"])
        #expect(out.error?.code == 400)
        #expect(out.error?.message == c.message)
        let payload = try #require(out.message("\(c.operation.rawValue)/rejected"))
        #expect(payload["code"] == 400)
        #expect(payload["message"] == .string(c.message))
        #expect(payload["timestamp"] == 9)
        #expect(payload["clientToken"] == c.clientToken.map { .string($0) })
        #expect(out.changed == nil)
        #expect(book.shadows == saved)
    }
}

// MARK: - Get and delete

@Suite struct ShadowGetDeleteTests {
    @Test(arguments: [
        (nil, "t1"), ("lamp", "lamp"),
    ] as [(String?, String)])
    func noShadowIs404NamingIt(_ name: String?, _ label: String) {
        var book = ShadowBook(thing: "t1")
        for operation in [ShadowBook.Operation.get, .delete] {
            let out = book.send(operation, #"{"clientToken": "q"}"#, name: name, now: 5)
            #expect(out.error == .notFound(label))
            #expect(out.message("\(operation.rawValue)/rejected") == parseJSON("""
                {"code": 404, "message": "No shadow exists with name: '\(label)'", "timestamp": 5, "clientToken": "q"}
                """))
            #expect(out.changed == nil)
        }
    }

    @Test func deleteWithAVersionMustMatch() throws {
        var book = ShadowBook(thing: "t1")
        _ = book.send(.update, #"{"state": {"reported": {"a": 1}}}"#, name: "lamp", now: 1)
        _ = book.send(.update, #"{"state": {"reported": {"a": 2}}}"#, name: "lamp", now: 2)
        var out = book.send(.delete, #"{"version": 1, "clientToken": "z"}"#, name: "lamp", now: 3)
        #expect(out.error == .versionConflict(current: 2))
        #expect(out.message("delete/rejected")?["code"] == 409)
        #expect(out.message("delete/rejected")?["clientToken"] == "z")
        #expect(out.changed == nil)
        #expect(book.document("lamp")?.reported == members(#"{"a": 2}"#))

        out = book.send(.delete, #"{"version": 2}"#, name: "lamp", now: 4)
        #expect(out.message("delete/accepted") == parseJSON(#"{"version": 2, "timestamp": 4}"#))
        #expect(book.document("lamp") == nil)
        let tombstone = try #require(book.shadows["lamp"])
        #expect(tombstone.exists == false)
        #expect(tombstone.version == 2)
        #expect(tombstone.timestamp == 4)
    }

    @Test func versionsNeverGoBackwardsAcrossDeletes() {
        var book = ShadowBook(thing: "t1")
        var expected: Int64 = 0
        for round in 1...3 {
            for _ in 1...round {
                expected += 1
                let out = book.send(.update, #"{"state": {"reported": {"round": \#(round)}}}"#, now: expected)
                #expect(out.message("update/accepted")?["version"] == .int(expected))
            }
            #expect(book.send(.delete, nil, now: 99).message("delete/accepted")?["version"] == .int(expected))
        }
        #expect(expected == 6)
        // The tombstone's version is the current one for a version check.
        #expect(book.send(.update, #"{"state": {"reported": {"a": 1}}, "version": 5}"#, now: 100).error == .versionConflict(current: 6))
        #expect(book.send(.update, #"{"state": {"reported": {"a": 1}}, "version": 6}"#, now: 101).message("update/accepted")?["version"] == 7)
    }

    @Test func aLoadedTombstoneContinuesItsVersion() {
        var tombstone = ShadowDocument()
        tombstone.version = 41
        var book = ShadowBook(thing: "t1", shadows: [nil: tombstone])
        #expect(book.send(.get, nil, now: 1).error == .notFound("t1"))
        #expect(book.send(.update, #"{"state": {"desired": {"a": 1}}}"#, now: 2).message("update/accepted")?["version"] == 42)
    }

    @Test func getIgnoresAVersionAndEchoesTheToken() {
        var book = ShadowBook(thing: "t1")
        _ = book.send(.update, #"{"state": {"desired": {"a": {"b": 1, "c": 2}}, "reported": {"a": {"b": 1, "c": 3}, "d": 4}}}"#,
                      name: "cfg", now: 10)
        let out = book.send(.get, #"{"clientToken": "gt", "version": 99}"#, name: "cfg", now: 20)
        #expect(out.message("get/accepted") == parseJSON("""
            {"state": {"desired": {"a": {"b": 1, "c": 2}}, "reported": {"a": {"b": 1, "c": 3}, "d": 4}, "delta": {"a": {"c": 2}}},
             "metadata": {"desired": {"a": {"b": {"timestamp": 10}, "c": {"timestamp": 10}}},
                          "reported": {"a": {"b": {"timestamp": 10}, "c": {"timestamp": 10}}, "d": {"timestamp": 10}}},
             "version": 1, "timestamp": 20, "clientToken": "gt"}
            """))
    }
}

// MARK: - Classic and named shadows

@Suite struct ShadowNamesTests {
    @Test func classicAndNamedShadowsAreIndependent() {
        var book = ShadowBook(thing: "t1")
        _ = book.send(.update, #"{"state": {"desired": {"color": "red"}}}"#, now: 1)
        _ = book.send(.update, #"{"state": {"desired": {"color": "blue"}}}"#, name: "lamp", now: 2)
        _ = book.send(.update, #"{"state": {"desired": {"color": "green"}}}"#, name: "lamp", now: 3)
        #expect(book.document(nil)?.version == 1)
        #expect(book.document(nil)?.desired == members(#"{"color": "red"}"#))
        #expect(book.document("lamp")?.version == 2)
        #expect(book.document("lamp")?.desired == members(#"{"color": "green"}"#))

        _ = book.send(.delete, nil, now: 4)
        #expect(book.document(nil) == nil)
        #expect(book.document("lamp")?.version == 2)
        #expect(book.send(.get, nil, name: "lamp", now: 5).error == nil)
    }

    @Test func aThingKeepsAtMostAHundredNamedShadows() {
        var book = ShadowBook(thing: "t1")
        for index in 0..<100 {
            #expect(book.send(.update, #"{"state": {"reported": {"i": \#(index)}}}"#, name: "s\(index)", now: 1).error == nil)
        }
        var out = book.send(.update, #"{"state": {"reported": {"i": 100}}, "clientToken": "m"}"#, name: "s100", now: 2)
        #expect(out.error?.code == 400)
        #expect(out.error?.message == "Too many shadows")
        #expect(out.message("update/rejected")?["clientToken"] == "m")
        #expect(book.shadows["s100"] == nil)
        // The classic shadow does not count, and existing named shadows still update.
        #expect(book.send(.update, #"{"state": {"reported": {"i": 0}}}"#, now: 3).error == nil)
        #expect(book.send(.update, #"{"state": {"reported": {"i": 5}}}"#, name: "s5", now: 3).error == nil)
        // A deleted one frees its place.
        #expect(book.send(.delete, nil, name: "s5", now: 4).error == nil)
        out = book.send(.update, #"{"state": {"reported": {"i": 100}}}"#, name: "s100", now: 5)
        #expect(out.error == nil)
        // And re-creating a deleted one counts again.
        #expect(book.send(.update, #"{"state": {"reported": {"i": 5}}}"#, name: "s5", now: 6).error?.message == "Too many shadows")
    }
}

// MARK: - Stored form

@Suite struct ShadowStoredFormTests {
    @Test func storedFormRoundTrips() throws {
        var book = ShadowBook(thing: "t1")
        _ = book.send(.update, #"{"state": {"desired": {"a": {"b": [1, 2]}}, "reported": {"c": "d"}}}"#, now: 10)
        let document = try #require(book.document(nil))
        #expect(ShadowDocument(stored: document.stored) == document)

        let tombstone = try #require(book.send(.delete, nil, now: 11).changed)
        #expect(ShadowDocument(stored: tombstone.stored) == tombstone)
        #expect(tombstone.stored == parseJSON(#"{"version": 1, "timestamp": 11, "exists": false}"#))
    }

    @Test(arguments: ["[]", "{}", #"{"version": -1}"#, #"{"version": "1"}"#, #"{"version": 1.5}"#])
    func notAStoredShadow(_ text: String) {
        #expect(ShadowDocument(stored: parseJSON(text)) == nil)
    }

    @Test func aStoredShadowWithoutExistsExists() throws {
        let document = try #require(ShadowDocument(stored: parseJSON(#"{"version": 3, "reported": {"a": 1}}"#)))
        #expect(document.exists)
        #expect(document.version == 3)
        #expect(document.timestamp == 0)
        #expect(document.reported == members(#"{"a": 1}"#))
    }
}
