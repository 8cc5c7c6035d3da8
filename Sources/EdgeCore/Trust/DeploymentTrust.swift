/// Which keys may sign this agent's deployments, and the decision whether a document is one it
/// may apply. The signature check itself (Ed25519) is the shell's, passed in as `verify`: this
/// stays free of C and is tested with any function standing in for it.
public struct DeploymentTrust: Sendable, Equatable {
    /// Key id → raw Ed25519 public key (32 bytes). Empty: signatures are not required.
    public var keys: [String: [UInt8]]

    public init(keys: [String: [UInt8]] = [:]) { self.keys = keys }

    /// Once any key is trusted, only documents signed by one of them are applied.
    public var requiresSignature: Bool { !keys.isEmpty }

    /// What a received document holds once its envelope (if any) is opened.
    public enum Opened: Sendable, Equatable {
        /// A plain document, accepted because no key is trusted.
        case plain(JSONValue)
        /// The signed payload's bytes (JSON still to be parsed); `keyid`: the trusted key whose
        /// signature verified, nil when no key is trusted and nothing could be checked.
        case signed(payload: [UInt8], keyid: String?)
    }

    /// Why a document is refused, and its payload when the envelope could be read (so the status
    /// can still name its deploymentId and revision).
    public struct Refusal: Error, Sendable, Equatable {
        public var issues: [ValidationIssue]
        public var payload: [UInt8]?
    }

    public typealias Verify = (_ publicKey: [UInt8], _ message: [UInt8], _ signature: [UInt8]) -> Bool

    /// Opens `document`: a signed envelope is verified against the trusted keys (any one valid
    /// signature by a trusted key suffices); a plain document passes only when no key is trusted.
    public func open(_ document: JSONValue, verify: Verify) -> Result<Opened, Refusal> {
        guard SignedEnvelope.isEnvelope(document) else {
            guard requiresSignature else { return .success(.plain(document)) }
            return .failure(Refusal(issues: [ValidationIssue(
                path: "(document)", value: nil,
                message: "is not signed, and this agent applies only deployments signed by a trusted key (\(trustedList)): "
                    + "publish it with edgectl deploy --sign KEYFILE, or wrap it with edgectl sign")], payload: nil))
        }
        let envelope: SignedEnvelope
        switch SignedEnvelope.parse(document) {
        case .success(let parsed): envelope = parsed
        case .failure(let rejection): return .failure(Refusal(issues: rejection.issues, payload: nil))
        }
        guard requiresSignature else { return .success(.signed(payload: envelope.payload, keyid: nil)) }
        let message = envelope.signedBytes
        var failed: [ValidationIssue] = []
        for (index, signature) in envelope.signatures.enumerated() {
            guard let key = keys[signature.keyid] else { continue }
            if signature.sig.count == 64 && verify(key, message, signature.sig) {
                return .success(.signed(payload: envelope.payload, keyid: signature.keyid))
            }
            failed.append(ValidationIssue(
                path: "signatures[\(index)].sig", value: nil,
                message: "does not verify with the trusted key '\(signature.keyid)': the document was changed after it was signed, "
                    + "or it was signed with another key under this key id; sign the document again with the key '\(signature.keyid)'"))
        }
        if failed.isEmpty {
            let named = envelope.signatures.map { "'\($0.keyid)'" }.joined(separator: ", ")
            failed.append(ValidationIssue(
                path: "signatures", value: nil,
                message: "no signature is by a key this agent trusts (signed by \(named); trusted: \(trustedList)): sign it with a "
                    + "trusted key, or add the key to deployments.trustedKeys in the agent's configuration"))
        }
        return .failure(Refusal(issues: failed, payload: envelope.payload))
    }

    private var trustedList: String { keys.keys.sorted().map { "'\($0)'" }.joined(separator: ", ") }
}
