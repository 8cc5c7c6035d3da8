import EdgeCore
import EdgeSigning
import Testing

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// RFC 8032 section 7.1, tests 1 and 2.
private let vectors: [(seed: String, publicKey: String, message: String, signature: String)] = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]

@Suite struct Ed25519Tests {
    @Test func theRFC8032VectorsSignAndVerify() throws {
        for vector in vectors {
            let key = try Ed25519PrivateKey(seed: hex(vector.seed))
            #expect(try key.publicKey() == hex(vector.publicKey))
            #expect(try key.sign(hex(vector.message)) == hex(vector.signature))
            #expect(Ed25519.verify(publicKey: hex(vector.publicKey), message: hex(vector.message), signature: hex(vector.signature)))
        }
    }

    @Test func aChangedMessageSignatureOrKeyDoesNotVerify() {
        let vector = vectors[1]
        var signature = hex(vector.signature)
        signature[10] ^= 1
        #expect(!Ed25519.verify(publicKey: hex(vector.publicKey), message: hex(vector.message), signature: signature))
        #expect(!Ed25519.verify(publicKey: hex(vector.publicKey), message: [0x73], signature: hex(vector.signature)))
        #expect(!Ed25519.verify(publicKey: hex(vectors[0].publicKey), message: hex(vector.message), signature: hex(vector.signature)))
        #expect(!Ed25519.verify(publicKey: [1, 2, 3], message: [], signature: hex(vector.signature)))
        #expect(!Ed25519.verify(publicKey: hex(vector.publicKey), message: [], signature: Array(signature.prefix(63))))
    }

    @Test func aGeneratedKeySurvivesPEM() throws {
        let key = try Ed25519PrivateKey.generate()
        let pem = try key.pem()
        #expect(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let read = try Ed25519PrivateKey(pem: pem)
        #expect(try read.publicKey() == key.publicKey())
        let signature = try read.sign(Array("hello".utf8))
        #expect(Ed25519.verify(publicKey: try key.publicKey(), message: Array("hello".utf8), signature: signature))
    }

    @Test func aKeyThatIsNotEd25519IsRefusedByName() {
        // An EC P-256 key, as certs/ makes for TLS: not a signing key for deployments.
        let ec = """
            -----BEGIN PRIVATE KEY-----
            MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghvZ2jo6KLAH8FndI
            e89wVZYeiVmP3gFypY/6L2hxLwyhRANCAAQaWZjoNEKj6LFnpZF09gb+IVXG959F
            qMEyLA0cRr/6GjTJ5KY0pBSpo26LE1F8TtJgkCQpAJeFXmsaeGj0UeWP
            -----END PRIVATE KEY-----
            """
        do {
            _ = try Ed25519PrivateKey(pem: Array(ec.utf8))
            Issue.record("an EC key was taken for an Ed25519 key")
        } catch {
            #expect(error.description.hasPrefix("not an Ed25519 key"))
        }
        do {
            _ = try Ed25519PrivateKey(pem: Array("not a key".utf8))
            Issue.record("text was taken for a key")
        } catch {
            #expect(error.description.hasPrefix("not an unencrypted PEM private key"))
        }
    }

    @Test func anEnvelopeSignedHereOpensUnderTrust() throws {
        let key = try Ed25519PrivateKey.generate()
        let document = Array(#"{"deploymentId":"d","revision":1,"functions":{}}"#.utf8)
        let envelope = try DeploymentSigner.envelope(for: document, keyid: "ops", key: key)
        let trust = DeploymentTrust(keys: ["ops": try key.publicKey()])
        #expect(trust.open(envelope.json, verify: DeploymentSigner.verify) == .success(.signed(payload: document, keyid: "ops")))
        var tampered = envelope
        tampered.payload[tampered.payload.count - 2] = UInt8(ascii: " ")
        guard case .failure(let refusal) = trust.open(tampered.json, verify: DeploymentSigner.verify) else {
            Issue.record("a tampered payload was accepted")
            return
        }
        #expect(refusal.issues.map(\.path) == ["signatures[0].sig"])
    }
}
