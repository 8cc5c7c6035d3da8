/// A DSSE envelope (github.com/secure-systems-lab/dsse, protocol v1): the signed bytes travel
/// base64-encoded beside their signatures, so nothing has to be canonicalised to be verified.
/// Each signature is over `preAuthenticationEncoding(payloadType, payload)`.
public struct SignedEnvelope: Sendable, Equatable {
    public struct Signature: Sendable, Equatable {
        public var keyid: String
        public var sig: [UInt8]

        public init(keyid: String, sig: [UInt8]) {
            self.keyid = keyid
            self.sig = sig
        }
    }

    /// The payload type of a deployment document; a signature over another type is not one.
    public static let deploymentType = "application/vnd.edge-agent.deployment+json"
    public static let maxSignatures = 8
    /// 4 MiB of base64: far more than any deployment document, bounded all the same.
    static let maxPayloadText = 4 << 20
    static let fields = ["payload", "payloadType", "signatures"]
    static let signatureFields = ["keyid", "sig"]

    public var payloadType: String
    public var payload: [UInt8]
    public var signatures: [Signature]

    public init(payloadType: String = SignedEnvelope.deploymentType, payload: [UInt8], signatures: [Signature]) {
        self.payloadType = payloadType
        self.payload = payload
        self.signatures = signatures
    }

    /// Whether `document` is meant as an envelope: a deployment document has none of its fields.
    public static func isEnvelope(_ document: JSONValue) -> Bool {
        guard let members = document.objectValue else { return false }
        return members["payload"] != nil || members["signatures"] != nil || members["payloadType"] != nil
    }

    /// DSSE's PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal.
    public static func preAuthenticationEncoding(_ payloadType: String, _ payload: [UInt8]) -> [UInt8] {
        let type = Array(payloadType.utf8)
        var bytes = Array("DSSEv1 \(type.count) ".utf8)
        bytes += type
        bytes += Array(" \(payload.count) ".utf8)
        bytes += payload
        return bytes
    }

    /// The bytes each signature covers.
    public var signedBytes: [UInt8] { Self.preAuthenticationEncoding(payloadType, payload) }

    /// Reads an envelope; every problem is named by its field.
    public static func parse(_ document: JSONValue) -> Result<SignedEnvelope, DocumentRejection> {
        let reader = FieldReader()
        guard let top = reader.object(document, at: "(envelope)") else { return .failure(DocumentRejection(reader.issues)) }
        reader.rejectUnknown(top, known: fields, at: "")
        let type = reader.string(reader.required(top, "payloadType", at: ""), at: "payloadType", maxLength: 256)
        if let type, type != deploymentType {
            reader.fail("payloadType", .string(type), "must be \"\(deploymentType)\": the signature is not over a deployment document")
        }
        let payload = decoded(reader.string(reader.required(top, "payload", at: ""), at: "payload", maxLength: maxPayloadText), at: "payload",
                              reader: reader)
        var signatures: [Signature] = []
        if let items = reader.array(reader.required(top, "signatures", at: ""), at: "signatures", maxCount: maxSignatures) {
            if items.isEmpty { reader.fail("signatures", nil, "is empty; give at least one {\"keyid\", \"sig\"}") }
            for (index, item) in items.enumerated() {
                let at = "signatures[\(index)]"
                guard let members = reader.object(item, at: at) else { continue }
                reader.rejectUnknown(members, known: signatureFields, at: at)
                let keyid = reader.string(reader.required(members, "keyid", at: at), at: "\(at).keyid", maxLength: 64) {
                    NameRule.check($0, extra: "._:-", what: "a key id", maxLength: 64)
                }
                let sig = decoded(reader.string(reader.required(members, "sig", at: at), at: "\(at).sig", maxLength: 256), at: "\(at).sig",
                                  reader: reader)
                if let keyid, let sig { signatures.append(Signature(keyid: keyid, sig: sig)) }
            }
        }
        guard reader.issues.isEmpty, let type, let payload else { return .failure(DocumentRejection(reader.issues)) }
        return .success(SignedEnvelope(payloadType: type, payload: payload, signatures: signatures))
    }

    private static func decoded(_ text: String?, at path: String, reader: FieldReader) -> [UInt8]? {
        guard let text else { return nil }
        switch Base64.decode(text) {
        case .success(let bytes): return bytes
        case .failure(let problem):
            reader.fail(path, nil, "\(problem); it must be base64")
            return nil
        }
    }

    /// The envelope as JSON, base64 in the standard alphabet.
    public var json: JSONValue {
        let signatures = self.signatures.map { JSONValue.object(["keyid": .string($0.keyid), "sig": .string(Base64.encode($0.sig))]) }
        return ["payloadType": .string(payloadType), "payload": .string(Base64.encode(payload)), "signatures": .array(signatures)]
    }
}
