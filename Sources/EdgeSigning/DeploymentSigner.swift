import EdgeCore

/// Signs a deployment document into a DSSE envelope, and verifies one for the agent.
public enum DeploymentSigner {
    /// `document`'s bytes, exactly as given (they are what the agent will parse), in an envelope
    /// signed by `key` under `keyid`.
    public static func envelope(for document: [UInt8], keyid: String, key: Ed25519PrivateKey) throws(SigningError) -> SignedEnvelope {
        var envelope = SignedEnvelope(payload: document, signatures: [])
        envelope.signatures = [SignedEnvelope.Signature(keyid: keyid, sig: try key.sign(envelope.signedBytes))]
        return envelope
    }

    /// The check `DeploymentTrust.open` needs, done with libcrypto.
    public static func verify(_ key: [UInt8], _ message: [UInt8], _ signature: [UInt8]) -> Bool {
        Ed25519.verify(publicKey: key, message: message, signature: signature)
    }
}
