import Testing
@testable import EdgeCore

/// A stand-in for Ed25519: a signature is valid when it is the key followed by the message's
/// length, padded to 64 bytes. The real check is tested in EdgeSigningTests.
private func fakeSign(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
    Array((key + [UInt8(message.count & 0xff), UInt8(message.count >> 8 & 0xff)] + [UInt8](repeating: 7, count: 64)).prefix(64))
}

private func fakeVerify(_ key: [UInt8], _ message: [UInt8], _ signature: [UInt8]) -> Bool { fakeSign(key, message) == signature }

private let keyA = [UInt8](repeating: 1, count: 32)
private let keyB = [UInt8](repeating: 2, count: 32)
private let payload = Array(#"{"deploymentId":"d","revision":2,"functions":{}}"#.utf8)

private func envelope(_ signers: [(keyid: String, key: [UInt8])], payload: [UInt8] = payload) -> JSONValue {
    var envelope = SignedEnvelope(payload: payload, signatures: [])
    envelope.signatures = signers.map { SignedEnvelope.Signature(keyid: $0.keyid, sig: fakeSign($0.key, envelope.signedBytes)) }
    return envelope.json
}

private func refusal(_ result: Result<DeploymentTrust.Opened, DeploymentTrust.Refusal>) -> DeploymentTrust.Refusal? {
    if case .failure(let refusal) = result { return refusal }
    return nil
}

@Suite struct SignedEnvelopeTests {
    @Test func thePreAuthenticationEncodingIsDSSEv1() {
        // The example of the DSSE specification (protocol.md).
        let pae = SignedEnvelope.preAuthenticationEncoding("http://example.com/HelloWorld", Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    @Test func anEnvelopeSurvivesItsJSON() {
        let made = SignedEnvelope(payload: payload, signatures: [.init(keyid: "ops-1", sig: [UInt8](repeating: 9, count: 64))])
        #expect(SignedEnvelope.parse(made.json) == .success(made))
        #expect(SignedEnvelope.isEnvelope(made.json))
        #expect(!SignedEnvelope.isEnvelope(["deploymentId": "d", "revision": 1, "functions": [:]]))
    }

    @Test func everyMistakeIsNamedByItsField() {
        let bad: JSONValue = ["payload": "not base64!", "payloadType": "application/json", "extra": 1,
                              "signatures": [["keyid": "bad key", "sig": "AAAA"], ["sig": "AAAA"], "x"]]
        guard case .failure(let rejection) = SignedEnvelope.parse(bad) else {
            Issue.record("a bad envelope was read")
            return
        }
        let paths = rejection.issues.map(\.path)
        #expect(paths == ["extra", "payloadType", "payload", "signatures[0].keyid", "signatures[1].keyid", "signatures[2]"])
        #expect(rejection.issues[1].message.contains("application/vnd.edge-agent.deployment+json"))
        #expect(rejection.issues[2].message.contains("invalid base64 character at position 3"))
        let empty: JSONValue = ["payload": "e30=", "payloadType": .string(SignedEnvelope.deploymentType), "signatures": []]
        #expect(refusal(DeploymentTrust(keys: ["a": keyA]).open(empty, verify: fakeVerify))?.issues.map(\.path) == ["signatures"])
    }
}

@Suite struct DeploymentTrustTests {
    let trust = DeploymentTrust(keys: ["ops-a": keyA])

    @Test func withoutKeysPlainDocumentsPassAndEnvelopesOpenUnchecked() {
        let plain: JSONValue = ["deploymentId": "d", "revision": 1, "functions": [:]]
        #expect(DeploymentTrust().open(plain, verify: fakeVerify) == .success(.plain(plain)))
        #expect(DeploymentTrust().open(envelope([("x", keyB)]), verify: fakeVerify) == .success(.signed(payload: payload, keyid: nil)))
    }

    @Test func aTrustedSignatureOpensTheEnvelope() {
        #expect(trust.open(envelope([("ops-a", keyA)]), verify: fakeVerify) == .success(.signed(payload: payload, keyid: "ops-a")))
        // Signed by an unknown key and a trusted one (a rotation): the trusted one suffices.
        #expect(trust.open(envelope([("ops-new", keyB), ("ops-a", keyA)]), verify: fakeVerify)
                == .success(.signed(payload: payload, keyid: "ops-a")))
    }

    @Test func unsignedIsRefusedOnceAKeyIsTrusted() {
        let issues = refusal(trust.open(["deploymentId": "d", "revision": 1, "functions": [:]], verify: fakeVerify))?.issues
        #expect(issues?.map(\.path) == ["(document)"])
        #expect(issues?.first?.message.contains("is not signed") == true)
        #expect(issues?.first?.message.contains("'ops-a'") == true)
    }

    @Test func anUnknownKeyIsNamedWithTheTrustedOnes() {
        let refused = refusal(trust.open(envelope([("ops-z", keyB)]), verify: fakeVerify))
        #expect(refused?.issues.map(\.path) == ["signatures"])
        #expect(refused?.issues.first?.message.contains("signed by 'ops-z'; trusted: 'ops-a'") == true)
        #expect(refused?.payload == payload)
    }

    @Test func aWrongKeyUnderATrustedIdAndATamperedPayloadDoNotVerify() {
        let wrongKey = refusal(trust.open(envelope([("ops-a", keyB)]), verify: fakeVerify))
        #expect(wrongKey?.issues.map(\.path) == ["signatures[0].sig"])
        #expect(wrongKey?.issues.first?.message.contains("does not verify with the trusted key 'ops-a'") == true)
        // The payload changed after signing: the signature covers the old bytes.
        guard case .object(var members) = envelope([("ops-a", keyA)]) else { return }
        members["payload"] = .string(Base64.encode(payload + [0x20]))
        #expect(refusal(trust.open(.object(members), verify: fakeVerify))?.issues.map(\.path) == ["signatures[0].sig"])
        // The payload type is covered too: the same bytes signed as another type are not a deployment.
        members["payloadType"] = "application/json"
        #expect(refusal(trust.open(.object(members), verify: fakeVerify))?.issues.map(\.path) == ["payloadType"])
    }
}

@Suite struct DeploymentTrustSettingTests {
    @Test func trustedKeysAreReadAndChecked() throws {
        let key = Base64.encode(keyA)
        let config = try ConfigurationLoader.load(file: ["deployments": ["trustedKeys": ["ops-a": .string(key)]]],
                                                  arguments: ["--thing-name", "dev1"])
        #expect(config.deploymentTrust == DeploymentTrust(keys: ["ops-a": keyA]))
        #expect(try ConfigurationLoader.load(file: nil, arguments: ["--thing-name", "dev1"]).deploymentTrust.requiresSignature == false)
        for (file, setting) in [(["deployments": ["trustedKeys": ["ops-a": "c2hvcnQ="]]], "deployments.trustedKeys.ops-a"),
                                (["deployments": ["trustedKeys": ["bad key": .string(key)]]], "deployments.trustedKeys.bad key"),
                                (["deployments": ["trustedKeys": ["ops-a"]]], "deployments.trustedKeys"),
                                (["deployments": ["trustedKeys": [:]]], "deployments.trustedKeys"),
                                (["deployments": ["keys": [:]]], "deployments.keys")] as [(JSONValue, String)] {
            do {
                _ = try ConfigurationLoader.load(file: file, arguments: ["--thing-name", "dev1"])
                Issue.record("\(file) was accepted")
            } catch {
                #expect(error.setting == setting)
            }
        }
    }
}

@Suite struct DeploymentTargetTests {
    let plain: JSONValue = ["deploymentId": "d", "revision": 1, "functions": [:]]

    private func with(_ target: String) -> JSONValue {
        guard case .object(var members) = plain else { return plain }
        members["target"] = .string(target)
        return .object(members)
    }

    @Test func aSignedDocumentMustNameTheTopicItCameOn() {
        #expect(DeploymentTarget.issue(with("things/cam-01"), from: .thing, thing: "cam-01", signed: true) == nil)
        #expect(DeploymentTarget.issue(with("groups/line1"), from: .group("line1"), thing: "cam-01", signed: true) == nil)
        // Replayed to another thing, or from a group's topic onto the thing's own.
        #expect(DeploymentTarget.issue(with("things/cam-02"), from: .thing, thing: "cam-01", signed: true)?.path == "target")
        #expect(DeploymentTarget.issue(with("groups/line1"), from: .thing, thing: "cam-01", signed: true)?.value == "groups/line1")
        #expect(DeploymentTarget.issue(with("things/cam-01"), from: .group("line1"), thing: "cam-01", signed: true) != nil)
        let missing = DeploymentTarget.issue(plain, from: .thing, thing: "cam-01", signed: true)
        #expect(missing?.message.contains("is required in a signed deployment") == true)
        #expect(missing?.message.contains("things/cam-01") == true)
        // Unsigned: optional, but checked when given.
        #expect(DeploymentTarget.issue(plain, from: .thing, thing: "cam-01", signed: false) == nil)
        #expect(DeploymentTarget.issue(with("things/cam-02"), from: .thing, thing: "cam-01", signed: false) != nil)
    }

    @Test func theParserChecksTheTargetsForm() {
        #expect(DeploymentTarget.problem("things/cam-01") == nil)
        #expect(DeploymentTarget.problem("groups/line1") == nil)
        for bad in ["cam-01", "thing/cam-01", "things/", "groups/a/b", "things/a b"] {
            #expect(DeploymentTarget.problem(bad) != nil, "\(bad)")
        }
        guard case .failure(let rejection) = DeploymentParser.parse(with("devices/x"), thing: "t") else {
            Issue.record("a bad target was accepted")
            return
        }
        #expect(rejection.issues.map(\.path) == ["target"])
    }
}
