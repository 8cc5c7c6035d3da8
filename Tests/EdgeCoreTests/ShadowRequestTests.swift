import Testing
@testable import EdgeCore

private let token64 = String(repeating: "t", count: 64)
private let token65 = String(repeating: "t", count: 65)
/// 33 two-byte characters: 33 characters but 66 bytes.
private let token66Bytes = String(repeating: "é", count: 33)

/// The refusal of an update payload, or nil when it is accepted.
private func updateRefusal(_ text: String) -> ShadowRequest.Refusal? {
    if case .failure(let refusal) = ShadowRequest.update(parseJSON(text)) { return refusal }
    return nil
}

private func otherRefusal(_ text: String?) -> ShadowRequest.Refusal? {
    if case .failure(let refusal) = ShadowRequest.other(text.map { parseJSON($0) }) { return refusal }
    return nil
}

// MARK: - Update requests

@Suite struct ShadowUpdateRequestTests {
    struct Accepted: Sendable, CustomTestStringConvertible {
        var payload: String
        var desired: String? = nil
        var reported: String? = nil
        var clientToken: String? = nil
        var version: Int64? = nil
        var testDescription: String { payload }
    }

    @Test(arguments: [
        Accepted(payload: #"{"state": {"desired": {"color": "red"}}}"#, desired: #"{"color": "red"}"#),
        Accepted(payload: #"{"state": {"reported": {"color": "green"}}}"#, reported: #"{"color": "green"}"#),
        Accepted(payload: #"{"state": {"desired": {"color": "red"}, "reported": {"color": "green"}}, "clientToken": "abc", "version": 3}"#,
                 desired: #"{"color": "red"}"#, reported: #"{"color": "green"}"#, clientToken: "abc", version: 3),
        Accepted(payload: #"{"state": {"desired": null}}"#, desired: "null"),
        Accepted(payload: #"{"state": {"reported": {"color": "red"}, "desired": null}}"#, desired: "null",
                 reported: #"{"color": "red"}"#),
        Accepted(payload: #"{"state": {"desired": {"engine": null}}}"#, desired: #"{"engine": null}"#),
        Accepted(payload: #"{"state": {"desired": {}}}"#, desired: "{}"),
        Accepted(payload: #"{"state": {"reported": {"a": 1}}, "version": 0}"#, reported: #"{"a": 1}"#, version: 0),
        Accepted(payload: #"{"state": {"reported": {"a": 1}}, "version": 9007199254740}"#, reported: #"{"a": 1}"#,
                 version: 9_007_199_254_740),
        Accepted(payload: #"{"state": {"reported": {"a": 1}}, "clientToken": "\#(token64)"}"#, reported: #"{"a": 1}"#,
                 clientToken: token64),
        Accepted(payload: #"{"state": {"reported": {"a": 1}}, "clientToken": "x"}"#, reported: #"{"a": 1}"#, clientToken: "x"),
        // Other top-level members are ignored, as AWS does.
        Accepted(payload: #"{"state": {"reported": {"a": 1}}, "metadata": {}, "timestamp": 5}"#, reported: #"{"a": 1}"#),
        Accepted(payload: #"{"state": {"desired": \#(nestedKeys(6))}}"#, desired: nestedKeys(6)),
        Accepted(payload: #"{"state": {"reported": \#(nestedKeys(6, leaf: "[]"))}}"#, reported: nestedKeys(6, leaf: "[]")),
    ])
    func acceptedRequest(_ c: Accepted) throws {
        let request = try ShadowRequest.update(parseJSON(c.payload)).get()
        #expect(request == ShadowRequest(desired: c.desired.map { parseJSON($0) }, reported: c.reported.map { parseJSON($0) },
                                         clientToken: c.clientToken, version: c.version))
    }

    struct Refused: Sendable, CustomTestStringConvertible {
        var payload: String
        var message: String
        var clientToken: String? = nil
        var detail: String? = nil
        var testDescription: String { payload }
    }

    @Test(arguments: [
        Refused(payload: "[]", message: "Invalid JSON", detail: "the payload is a JSON array; send an object"),
        Refused(payload: #""state""#, message: "Invalid JSON", detail: "the payload is a JSON string; send an object"),
        Refused(payload: "null", message: "Invalid JSON"),
        Refused(payload: "5", message: "Invalid JSON"),
        Refused(payload: "{}", message: "Missing required node: state"),
        Refused(payload: #"{"desired": {"a": 1}}"#, message: "Missing required node: state"),
        Refused(payload: #"{"clientToken": "abc"}"#, message: "Missing required node: state", clientToken: "abc"),
        Refused(payload: #"{"state": 5, "clientToken": "abc"}"#, message: "State node must be an object", clientToken: "abc",
                detail: "state is number; send an object with desired and/or reported"),
        Refused(payload: #"{"state": "x"}"#, message: "State node must be an object"),
        Refused(payload: #"{"state": []}"#, message: "State node must be an object"),
        Refused(payload: #"{"state": null}"#, message: "State node must be an object"),
        Refused(payload: #"{"state": {"desired": 5}}"#, message: "Desired node must be an object",
                detail: "state.desired is number; send an object, or null to clear the section"),
        Refused(payload: #"{"state": {"desired": "red"}}"#, message: "Desired node must be an object"),
        Refused(payload: #"{"state": {"desired": ["red"]}}"#, message: "Desired node must be an object"),
        Refused(payload: #"{"state": {"desired": true}, "clientToken": "c"}"#, message: "Desired node must be an object",
                clientToken: "c"),
        Refused(payload: #"{"state": {"reported": 5}}"#, message: "Reported node must be an object",
                detail: "state.reported is number; send an object, or null to clear the section"),
        Refused(payload: #"{"state": {"reported": []}}"#, message: "Reported node must be an object"),
        Refused(payload: #"{"state": {"desired": {}, "reported": "x"}}"#, message: "Reported node must be an object"),
        Refused(payload: #"{"state": {"delta": {"a": 1}}}"#, message: "State contains an invalid node",
                detail: "state.delta is not allowed; state holds only desired and reported"),
        Refused(payload: #"{"state": {"desired": {"a": 1}, "color": "red"}, "clientToken": "c"}"#,
                message: "State contains an invalid node", clientToken: "c"),
        Refused(payload: #"{"state": {"Desired": {"a": 1}}}"#, message: "State contains an invalid node"),
        Refused(payload: #"{"state": {"reported": {}}, "version": -1}"#, message: "Invalid version"),
        Refused(payload: #"{"state": {"reported": {}}, "version": 1.5, "clientToken": "c"}"#, message: "Invalid version",
                clientToken: "c"),
        Refused(payload: #"{"state": {"reported": {}}, "version": "3"}"#, message: "Invalid version",
                detail: #"version is "3"; send the shadow's current version as a positive whole number, or leave it out"#),
        Refused(payload: #"{"state": {"reported": {}}, "version": true}"#, message: "Invalid version"),
        Refused(payload: #"{"state": {"reported": {}}, "version": [1]}"#, message: "Invalid version"),
        Refused(payload: #"{"state": {"reported": {}}, "clientToken": 5}"#, message: "Invalid clientToken",
                detail: "clientToken is a number; send a string of at most 64 bytes"),
        Refused(payload: #"{"state": {"reported": {}}, "clientToken": {"a": 1}}"#, message: "Invalid clientToken"),
        Refused(payload: #"{"state": {"reported": {}}, "clientToken": ""}"#, message: "Invalid clientToken",
                detail: "clientToken is 0 bytes; send 1 to 64 bytes"),
        Refused(payload: #"{"state": {"reported": {}}, "clientToken": "\#(token65)"}"#, message: "Invalid clientToken",
                detail: "clientToken is 65 bytes; send 1 to 64 bytes"),
        Refused(payload: #"{"state": {"reported": {}}, "clientToken": "\#(token66Bytes)"}"#, message: "Invalid clientToken",
                detail: "clientToken is 66 bytes; send 1 to 64 bytes"),
        Refused(payload: #"{"state": {"desired": \#(nestedKeys(7))}, "clientToken": "c"}"#,
                message: "JSON contains too many levels of nesting; maximum is 6", clientToken: "c",
                detail: "state.desired.k1.k2.k3.k4.k5.k6.k7 nests deeper than 6 levels below desired or reported"),
        Refused(payload: #"{"state": {"reported": {"ok": 1, "deep": \#(nestedKeys(6))}}}"#,
                message: "JSON contains too many levels of nesting; maximum is 6",
                detail: "state.reported.deep.k1.k2.k3.k4.k5.k6 nests deeper than 6 levels below desired or reported"),
        Refused(payload: #"{"state": {"desired": \#(nestedKeys(7, leaf: "null"))}}"#,
                message: "JSON contains too many levels of nesting; maximum is 6"),
    ])
    func refusedRequest(_ c: Refused) throws {
        let refusal = try #require(updateRefusal(c.payload))
        #expect(refusal.error.code == 400)
        #expect(refusal.error.message == c.message)
        #expect(refusal.clientToken == c.clientToken)
        if let detail = c.detail { #expect(refusal.error.detail == detail) }
    }

    @Test func aFractionalVersionQuotesItBack() throws {
        let refusal = try #require(updateRefusal(#"{"state": {"reported": {}}, "version": 2.5}"#))
        #expect(refusal.error == .invalidVersion("2.5"))
    }
}

// MARK: - Get and delete requests

@Suite struct ShadowOtherRequestTests {
    @Test(arguments: [
        (nil, nil, nil),
        ("{}", nil, nil),
        (#"{"clientToken": "abc"}"#, "abc", nil),
        (#"{"clientToken": "abc", "version": 4}"#, "abc", 4),
        (#"{"version": 0}"#, nil, 0),
        (#"{"state": {"desired": 5}, "other": true}"#, nil, nil),
    ] as [(String?, String?, Int64?)])
    func accepted(_ payload: String?, _ clientToken: String?, _ version: Int64?) throws {
        let request = try ShadowRequest.other(payload.map { parseJSON($0) }).get()
        #expect(request == ShadowRequest(clientToken: clientToken, version: version))
    }

    @Test(arguments: [
        ("[]", "Invalid JSON", nil),
        (#""get""#, "Invalid JSON", nil),
        ("null", "Invalid JSON", nil),
        (#"{"clientToken": ""}"#, "Invalid clientToken", nil),
        (#"{"clientToken": 7}"#, "Invalid clientToken", nil),
        (#"{"clientToken": "\#(token65)"}"#, "Invalid clientToken", nil),
        (#"{"clientToken": "c", "version": -3}"#, "Invalid version", "c"),
        (#"{"clientToken": "c", "version": "1"}"#, "Invalid version", "c"),
        (#"{"version": 0.5}"#, "Invalid version", nil),
    ] as [(String, String, String?)])
    func refused(_ payload: String, _ message: String, _ clientToken: String?) throws {
        let refusal = try #require(otherRefusal(payload))
        #expect(refusal.error.code == 400)
        #expect(refusal.error.message == message)
        #expect(refusal.clientToken == clientToken)
    }
}

// MARK: - Errors as AWS words them

@Suite struct ShadowErrorTests {
    @Test(arguments: [
        (ShadowError.invalidJSON(), 400, "Invalid JSON"),
        (.missingState, 400, "Missing required node: state"),
        (.stateNotObject("number"), 400, "State node must be an object"),
        (.sectionNotObject("desired", "number"), 400, "Desired node must be an object"),
        (.sectionNotObject("reported", "array"), 400, "Reported node must be an object"),
        (.invalidVersion("-1"), 400, "Invalid version"),
        (.invalidClientToken("why"), 400, "Invalid clientToken"),
        (.tooDeep("state.desired.a"), 400, "JSON contains too many levels of nesting; maximum is 6"),
        (.invalidNode("delta"), 400, "State contains an invalid node"),
        (.notFound("t1"), 404, "No shadow exists with name: 't1'"),
        (.notFound("lamp"), 404, "No shadow exists with name: 'lamp'"),
        (.versionConflict(current: 3), 409, "Version conflict"),
        (.tooLarge("big"), 413, "The payload exceeds the maximum size allowed"),
        (.unsupportedEncoding, 415, "Unsupported documented encoding; supported encoding is UTF-8"),
        (.internalFailure("disk"), 500, "Internal service failure"),
    ])
    func codeAndMessage(_ error: ShadowError, _ code: Int, _ message: String) {
        #expect(error.code == code)
        #expect(error.message == message)
    }

    @Test func descriptionIncludesTheDetail() {
        #expect(ShadowError.notFound("t1").description == "404 No shadow exists with name: 't1'")
        #expect(ShadowError.versionConflict(current: 3).description
            == "409 Version conflict: the shadow is at version 3; get it, then send that version")
    }

    @Test func rejectionPayload() {
        let rejection = ShadowBook.rejection(.update, .versionConflict(current: 3), clientToken: "tok", now: 1469564492)
        #expect(rejection.suffix == "update/rejected")
        #expect(rejection.payload == parseJSON("""
            {"code": 409, "message": "Version conflict", "timestamp": 1469564492, "clientToken": "tok",
             "detail": "the shadow is at version 3; get it, then send that version"}
            """))
    }

    @Test func rejectionPayloadWithoutTokenOrDetail() {
        let rejection = ShadowBook.rejection(.delete, .notFound("t1"), clientToken: nil, now: 5)
        #expect(rejection.suffix == "delete/rejected")
        #expect(rejection.payload == parseJSON(#"{"code": 404, "message": "No shadow exists with name: 't1'", "timestamp": 5}"#))
    }

    @Test func limitsAreAWSs() {
        #expect(ShadowLimits.maxStateBytes == 8192)
        #expect(ShadowLimits.maxDepth == 6)
        #expect(ShadowLimits.maxClientTokenBytes == 64)
        #expect(ShadowLimits.maxNameBytes == 64)
    }
}
